"""The production server, really started, for tests, benchmarks and the stress suite: the
``flask cmp`` commands, the app's environment on a throw-away instance folder, and
gunicorn with gunicorn.conf.py (the production settings) on a port of loopback."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port of loopback nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def flask_cli(env: dict, *args: str) -> str:
    """``flask cmp ARGS`` in ``env``; its output, or an error carrying what it said."""
    done = subprocess.run([str(VENV_BIN / "flask"), "--app", "cmp_server", "cmp", *args],
                          env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"cmp {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def start_server(env: dict, port: int, log: Path, app: str = "bench.wsgi_bench:app",
                 wrapper: tuple[str, ...] = ()) -> subprocess.Popen:
    """gunicorn with gunicorn.conf.py (the production settings) on ``port``, serving
    ``app`` (by default the production app with the benchmark's bare endpoints beside
    it); ``wrapper`` is a command that runs it (a tracer, say)."""
    with log.open("a") as handle:  # the server keeps its own copy of the descriptor
        process = subprocess.Popen(
            [*wrapper, str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", app],
            env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT,
        )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz")
    except TimeoutError:
        process.kill()
        raise RuntimeError(f"gunicorn did not start; see {log}") from None
    return process


def wait_until_up(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer in {timeout} s") from None
            time.sleep(0.1)


def app_env(instance: Path, ledger_write: str = "durable") -> dict:
    """The app's environment in the request benchmarks: a throw-away instance folder, a
    fixed signing key, and every client behind one trusted proxy (X-Forwarded-For)."""
    return {**os.environ, "CMP_SECRET_KEYS": "bench-secret-key", "CMP_TRUSTED_PROXY_HOPS": "1",
            "CMP_INSTANCE_PATH": str(instance), "BENCH_LEDGER_WRITE": ledger_write}


def prepare(env: dict, port: int) -> tuple[str, str]:
    """A fresh database with the catalogue and the demo site: (site key, base URL)."""
    flask_cli(env, "init")
    flask_cli(env, "import-vendors")
    site_key = flask_cli(env, "demo", "--port", str(port)).strip().splitlines()[-1]
    return site_key, f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def throwaway_app(prefix: str) -> Iterator[tuple[dict, str]]:
    """The app's environment (``app_env``) on a throw-away instance folder with the demo
    site prepared, for benchmarks that call the app in their own processes: (environment,
    site key). The folder goes when the block ends."""
    instance = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        env = app_env(instance)
        site_key, _base = prepare(env, 5000)
        yield env, site_key
    finally:
        shutil.rmtree(instance, ignore_errors=True)
