"""gunicorn.conf.py, the production settings, as gunicorn applies them to its workers: the
production app behind each, answering /worker with which worker it is
(tests/support/worker_report_app.py)."""
import collections
import contextlib
import http.client
import json
import os
import runpy
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.server import VENV_BIN, app_env, flask_cli, free_port, start_server

ROOT = Path(__file__).resolve().parents[2]
WORKERS = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["workers"]
MIGRATE_QUEUED_CONNECTIONS = Path("/proc/sys/net/ipv4/tcp_migrate_req")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(port, environment) of a running production server."""
    tmp_path = tmp_path_factory.mktemp("gunicorn")
    env = initialised_env(tmp_path / "instance")
    port = free_port()
    process = start_server(env, port, tmp_path / "gunicorn.log", app="tests.support.worker_report_app:app")
    yield port, env
    process.terminate()
    process.wait(timeout=30)


def initialised_env(instance: Path) -> dict:
    """The app's environment on ``instance``, its database created (the health check a
    server start waits for reads it)."""
    env = app_env(instance)
    flask_cli(env, "init")
    return env


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


def test_each_instance_is_controlled_through_a_socket_of_its_own(server, tmp_path):
    """`gunicornc -s <instance>/gunicorn.ctl` reaches this instance's master, even after
    another instance of the same user started and stopped (with gunicorn's default path,
    one per user, the other would have taken the socket over, then removed it)."""
    port, env = server
    other_env = initialised_env(tmp_path / "instance")
    other = start_server(other_env, free_port(), tmp_path / "gunicorn.log")
    other.terminate()
    other.wait(timeout=30)
    assert not (tmp_path / "instance" / "gunicorn.ctl").exists()
    control = subprocess.run(
        [str(VENV_BIN / "gunicornc"), "-s", str(Path(env["CMP_INSTANCE_PATH"]) / "gunicorn.ctl"),
         "-c", "show workers", "-j"], capture_output=True, text=True, timeout=60, check=True)
    listed = {worker["pid"] for worker in json.loads(control.stdout)["workers"]}
    assert listed == {answer["pid"] for answer in worker_answers(port, 48)}


def test_a_host_that_resets_queued_connections_is_named_at_start(tmp_path):
    """Without net.ipv4.tcp_migrate_req, a reload or an upgrade resets connections queued
    at the workers that stop: the server says so, with the remedy, when it starts."""
    env = initialised_env(tmp_path / "instance")
    for value, warned in (("0", True), ("1", False)):
        log = tmp_path / f"gunicorn-{value}.log"
        with kernel_setting(MIGRATE_QUEUED_CONNECTIONS, value):
            process = start_server(env, free_port(), log)
            process.terminate()
            process.wait(timeout=30)
        assert ("`sysctl -w net.ipv4.tcp_migrate_req=1` hands them over" in log.read_text()) is warned


def test_a_second_server_on_the_same_port_refuses_to_start(server, tmp_path):
    """SO_REUSEPORT would let a second instance bind the port too and silently take part
    of the traffic; it must stop with a clear message, and the first keep serving."""
    port, env = server
    second = subprocess.run(
        [str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "tests.support.worker_report_app:app"],
        env={**env, "CMP_INSTANCE_PATH": str(tmp_path)}, cwd=ROOT, capture_output=True,
        text=True, timeout=60)
    assert second.returncode != 0
    assert f"127.0.0.1:{port} is in use by another server" in second.stderr + second.stdout
    assert "Booting worker" not in second.stderr + second.stdout
    assert len(worker_answers(port, 3)) == 3


def test_socket_activation_serves_on_the_sockets_systemd_passed(tmp_path):
    """Started by systemd with its socket, the server must serve on that socket: with
    sockets of the workers' own it would refuse the port systemd holds, or leave
    systemd's socket queueing connections nobody accepts."""
    env = initialised_env(tmp_path / "instance")
    port, log = free_port(), tmp_path / "gunicorn.log"
    process = start_server(env, port, log, app="tests.support.worker_report_app:app",
                           wrapper=(sys.executable, str(ROOT / "tests" / "support" / "socket_activation.py"),
                                    str(port)))
    try:
        assert len(worker_answers(port, 48)) == 48
        assert "Serving on the sockets systemd passed" in log.read_text()
        assert f"Listening at: http://127.0.0.1:{port} ({process.pid})" in log.read_text()
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def handover(tmp_path):
    """(old master, port, pidfile, old workers, client) for a test that replaces the
    running workers, with a client asking all the while, each request on a new
    connection as a browser's first request is. The kernel hands connections queued at a
    stopping worker to another (net.ipv4.tcp_migrate_req, as the README asks of a
    production host): without it, 1 of 15 upgrades and 3 of 15 reloads here saw a
    connection reset; with it, none of 20 each."""
    env = initialised_env(tmp_path / "instance")
    port, pidfile = free_port(), tmp_path / "gunicorn.pid"
    with kernel_setting(MIGRATE_QUEUED_CONNECTIONS, "1"):
        master = start_server({**env, "GUNICORN_CMD_ARGS": f"--pid {pidfile}"}, port,
                              tmp_path / "gunicorn.log", app="tests.support.worker_report_app:app")
        client = Client(port)
        try:
            old_workers = {answer["pid"] for answer in worker_answers(port, 48)}
            client.start()
            yield master, port, pidfile, old_workers, client
        finally:
            client.stop()
            for pid in (master.pid, read_pid(Path(f"{pidfile}.2")), read_pid(pidfile)):
                if pid:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGTERM)
            master.wait(timeout=30)


def test_an_upgrade_in_place_hands_the_port_over_without_refusing_a_request(handover):
    """USR2 starts a new master beside the old one (a new gunicorn, Python or app);
    stopping the old master then leaves the new one serving alone."""
    old_master, port, pidfile, old_workers, client = handover
    old_master.send_signal(signal.SIGUSR2)
    new_master = wait_for(lambda: read_pid(Path(f"{pidfile}.2")))
    wait_for(lambda: set(client.pids) - old_workers)  # both masters' workers serve
    old_master.terminate()
    old_master.wait(timeout=30)
    wait_for(lambda: read_pid(pidfile) == new_master)  # promoted
    assert_served_by_new_workers_only(port, old_workers, client)


def test_a_reload_replaces_every_worker_without_refusing_a_request(handover):
    """HUP (new settings, new app code) starts new workers and stops the old ones."""
    master, port, _pidfile, old_workers, client = handover
    master.send_signal(signal.SIGHUP)
    wait_for(lambda: not any(map(running, old_workers)))
    assert master.poll() is None
    assert_served_by_new_workers_only(port, old_workers, client)


def assert_served_by_new_workers_only(port: int, old_workers: set[int], client: "Client"):
    """Every worker is new, and the client, answered by old and new workers alike, was
    never refused."""
    answered = len(client.pids)
    wait_for(lambda: len(client.pids) >= answered + 20)
    client.stop()
    new_workers = collections.Counter(answer["pid"] for answer in worker_answers(port, 48))
    assert len(new_workers) == WORKERS and not old_workers & set(new_workers)
    assert old_workers & set(client.pids) and set(new_workers) & set(client.pids)
    assert client.errors == []


class Client(threading.Thread):
    """Asks /worker over and over, a new connection each time, until stopped: which
    workers answered, and what went wrong."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.port = port
        self.pids: list[int] = []
        self.errors: list[str] = []
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.pids.extend(answer["pid"] for answer in worker_answers(self.port, 1))
            except (OSError, http.client.HTTPException) as error:
                self.errors.append(repr(error))

    def stop(self) -> None:
        self._stopping.set()
        if self.is_alive():
            self.join(timeout=30)


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def wait_for(condition, timeout: float = 60):
    """The condition's first true value, polled until ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f"not within {timeout} s")


@contextlib.contextmanager
def kernel_setting(path: Path, value: str):
    """A kernel setting (the machine's, so tests need root) set for the block, then put
    back."""
    before = path.read_text()
    try:
        path.write_text(value)
    except PermissionError:
        pytest.fail(f"{path} can only be set as root, which these tests run as (make test)")
    try:
        yield
    finally:
        path.write_text(before)
