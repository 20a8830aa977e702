"""The API benchmark's floor (a bare POST that makes its body durable, bench/wsgi_bench.py)
must really store every body it acknowledges, under gunicorn's production settings and
concurrent requests, or its ratio would understate what a durable write costs."""
import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from harness.server import app_env, flask_cli, free_port, start_server


def post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.status


def test_every_acknowledged_body_is_in_the_workers_files(tmp_path):
    instance = tmp_path / "instance"
    env = app_env(instance)
    flask_cli(env, "init")  # the health check the server start waits for reads the database
    port = free_port()
    server = start_server(env, port, tmp_path / "gunicorn.log")
    try:
        bodies = [json.dumps({"n": n, "pad": "x" * 300}).encode() for n in range(200)]
        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(lambda body: post(
                f"http://127.0.0.1:{port}/bench/durable", body), bodies))
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert statuses == [201] * len(bodies)
    files = sorted(instance.glob("bench-durable-*.log"))
    assert files, "no worker wrote a file"
    lines = [line for path in files for line in path.read_bytes().splitlines()]
    assert sorted(lines) == sorted(bodies)  # each body once, whole, none interleaved
