"""gunicorn.conf.py, the production settings, as gunicorn applies them to its workers."""
import urllib.request

from bench.api import app_env, flask_cli, start_server
from tests.pg import free_port


def test_each_worker_freezes_what_the_app_built_at_start(tmp_path):
    """What a worker loads at start stays out of full garbage collections (each one
    scanning it held the GIL for 40-70 ms): every worker answering has frozen at least
    the app's own objects, tens of thousands."""
    env = app_env(tmp_path / "instance")
    flask_cli(env, "init")  # the health check the server start waits for reads the database
    port = free_port()
    server = start_server(env, port, tmp_path / "gunicorn.log", app="tests.gc_frozen_app:app")
    try:
        counts = [int(urllib.request.urlopen(f"http://127.0.0.1:{port}/gc-frozen",
                                             timeout=30).read())
                  for _ in range(12)]  # a connection each: gunicorn's workers take turns
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert min(counts) >= 50_000, counts
