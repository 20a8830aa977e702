"""The production app (wsgi.py) with one more path, /worker, answering which worker served
the request and how many objects its garbage collector keeps frozen, as JSON
(tests/server/test_gunicorn_config.py)."""
import gc
import json
import os

from wsgi import app as production_app


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/worker":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"pid": os.getpid(), "gc_frozen": gc.get_freeze_count()}).encode()]
    return production_app(environ, start_response)
