"""gunicorn.conf.py, the production settings, as gunicorn applies them to its workers: the
production app behind each, answering /worker with which worker it is
(tests/worker_report_app.py)."""
import collections
import http.client
import json
import runpy
import subprocess
from pathlib import Path

import pytest

from bench.api import VENV_BIN, app_env, flask_cli, start_server
from tests.pg import free_port

ROOT = Path(__file__).resolve().parent.parent
WORKERS = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["workers"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(port, environment) of a running production server."""
    tmp_path = tmp_path_factory.mktemp("gunicorn")
    env = app_env(tmp_path / "instance")
    flask_cli(env, "init")  # the health check the server start waits for reads the database
    port = free_port()
    process = start_server(env, port, tmp_path / "gunicorn.log", app="tests.worker_report_app:app")
    yield port, env
    process.terminate()
    process.wait(timeout=30)


def worker_answers(port: int, connections: int) -> list[dict]:
    """Open ``connections`` keep-alive connections one after another, as a proxy fills
    its pool, then ask on each which worker holds it."""
    opened = [http.client.HTTPConnection("127.0.0.1", port, timeout=30)
              for _ in range(connections)]
    try:
        for connection in opened:
            connection.connect()
        answers = []
        for connection in opened:
            connection.request("GET", "/worker")
            answers.append(json.loads(connection.getresponse().read()))
        return answers
    finally:
        for connection in opened:
            connection.close()


def test_each_worker_freezes_what_the_app_built_at_start(server):
    """What a worker loads at start stays out of full garbage collections (each one
    scanning it held the GIL for about 60 ms): every worker has frozen at least the app's
    own objects, tens of thousands."""
    port, _env = server
    assert min(answer["gc_frozen"] for answer in worker_answers(port, 48)) >= 50_000


def test_keep_alive_connections_are_spread_over_every_worker(server):
    """On one shared socket the worker already running accepted nearly all of them (44 to
    47 of 48), leaving the others idle; each worker's own socket lets the kernel spread
    them. Evenly, each would hold 16 of 48; fewer than 5 is a chance below 1 in 10,000."""
    port, _env = server
    for _ in range(3):
        held = collections.Counter(answer["pid"] for answer in worker_answers(port, 48))
        assert len(held) == WORKERS and min(held.values()) >= 5, held


def test_a_second_server_on_the_same_port_refuses_to_start(server, tmp_path):
    """SO_REUSEPORT would let a second instance bind the port too and silently take part
    of the traffic; it must stop with a clear message, and the first keep serving."""
    port, env = server
    second = subprocess.run(
        [str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "tests.worker_report_app:app"],
        env={**env, "CMP_INSTANCE_PATH": str(tmp_path)}, cwd=ROOT, capture_output=True,
        text=True, timeout=60)
    assert second.returncode != 0
    assert f"127.0.0.1:{port} is in use by another server" in second.stderr + second.stdout
    assert "Booting worker" not in second.stderr + second.stdout
    assert len(worker_answers(port, 3)) == 3
