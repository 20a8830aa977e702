"""The production app (wsgi.py) with one more path, /gc-frozen, answering how many objects
the garbage collector of the worker that serves it keeps frozen (tests/test_gunicorn_config.py)."""
import gc

from wsgi import app as production_app


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/gc-frozen":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(gc.get_freeze_count()).encode()]
    return production_app(environ, start_response)
