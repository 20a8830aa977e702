"""A production-like deployment for the stress suite: gunicorn with gunicorn.conf.py
serving wsgi:app, on SQLite in an instance folder or on a durable PostgreSQL server (fsync
on), behind one trusted proxy hop; and the faults the suite inflicts on it."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from sqlalchemy import create_engine, select

from cmp_server.platform.settings import normalise_database_url
from cmp_server.models import ledger
from harness.postgres import PostgresServer
from harness.server import flask_cli, free_port, start_server


class Platform:
    def __init__(self, engine: str, workdir: Path):
        self.engine_name, self.workdir = engine, workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.postgres: PostgresServer | None = None
        self.server: subprocess.Popen | None = None
        self.env = {**os.environ, "CMP_INSTANCE_PATH": str(workdir / "instance"),
                    "CMP_SECRET_KEYS": "stress-secret-key", "CMP_TRUSTED_PROXY_HOPS": "1"}
        self.site_key = ""

    # --- life cycle -------------------------------------------------------------------

    def __enter__(self) -> "Platform":
        if self.engine_name == "postgresql":
            self.postgres = PostgresServer(durable=True).start()
            self.postgres.wait_ready()
            self.postgres.execute("CREATE DATABASE cmp_stress")
            self.env["CMP_DATABASE_URL"] = self.postgres.url("cmp_stress")
        flask_cli(self.env, "init")
        flask_cli(self.env, "import-vendors")
        self.site_key = flask_cli(self.env, "demo", "--port", str(self.port)).split()[-1]
        self.start()
        return self

    def __exit__(self, *_) -> None:
        if self.server and self.server.poll() is None:
            self.server.terminate()
            self.server.wait(timeout=30)
        if self.postgres:
            self.postgres.stop()

    @property
    def log(self) -> Path:
        return self.workdir / "gunicorn.log"

    def start(self) -> None:
        self.server = start_server(self.env, self.port, self.log, app="wsgi:app")

    def answered(self, request_line: str, status: int) -> int:
        """How many answers the server's access log shows for ``request_line`` with
        ``status``: the server's side of a reconciliation (wrk hangs up on requests still
        in flight when its time is up, so it never reads their answers)."""
        needle = f'"{request_line} HTTP/1.1" {status} '
        return sum(needle in line for line in self.settled_log().splitlines())

    def settled_log(self, quiet: float = 0.3) -> str:
        """The access log once it has stopped growing for ``quiet`` seconds: a worker
        logs a request after sending its answer, so the last answers a client has read
        may not be logged yet when the client is done (CI saw one line missing)."""
        text = self.log.read_text()
        while True:
            time.sleep(quiet)
            later = self.log.read_text()
            if later == text:
                return text
            text = later

    def workers(self) -> list[int]:
        pid = self.server.pid
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

    def kill_worker(self) -> int:
        """kill -9 of one worker; gunicorn's master starts another."""
        victim = self.workers()[0]
        os.kill(victim, signal.SIGKILL)
        return victim

    def kill_server(self) -> None:
        """kill -9 of the master and every worker at once."""
        for pid in [self.server.pid, *self.workers()]:
            os.kill(pid, signal.SIGKILL)
        self.server.wait()

    # --- requests ------------------------------------------------------------------------

    @property
    def consents_url(self) -> str:
        return f"{self.url}/api/v1/consents"

    def consent(self, action: str = "accept_all") -> dict:
        return {"site": self.site_key, "config_version": 1, "action": action, "language": "en"}

    def consent_body(self, action: str = "accept_all") -> str:
        return json.dumps(self.consent(action))

    @property
    def consent_headers(self) -> dict[str, str]:
        """As the banner on the demo page sends a consent."""
        return {"Content-Type": "application/json", "Origin": self.url}

    # --- the ledger ----------------------------------------------------------------------

    def database_url(self) -> str:
        return normalise_database_url(self.env.get("CMP_DATABASE_URL")
                                      or f"sqlite:///{self.workdir / 'instance' / 'cmp.sqlite3'}")

    def ledger_ids(self) -> set[str]:
        """Every receipt id in the ledger, once it has stopped growing: requests wrk sent
        before it stopped may still be queued in a worker, and are recorded after."""
        engine = create_engine(self.database_url())
        query = select(ledger.t.records.c.receipt_id)
        try:
            with engine.connect() as conn:
                before = None
                while True:
                    ids = set(conn.execute(query).scalars())
                    conn.rollback()  # a fresh snapshot next time
                    if ids == before:
                        return ids
                    before = ids
                    time.sleep(0.5)
        finally:
            engine.dispose()

    def seal_and_verify(self) -> int:
        """`cmp seal`, as the operator's cron would run it, then every seal checked; the
        number of records the seals cover."""
        flask_cli(self.env, "seal")
        engine = create_engine(self.database_url())
        try:
            with engine.connect() as conn:
                return ledger.verify(conn)
        finally:
            engine.dispose()


def wait_for(predicate, timeout: float = 30, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(step)
    return result
