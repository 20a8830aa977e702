"""A throw-away PostgreSQL server for the test session: initdb in a temporary directory,
listening on loopback only, stopped and removed at the end. Nothing is mocked."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from harness.server import free_port


def server_bindir() -> Path:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl) are missing: run `make setup`, "
        "which installs Debian's postgresql package"
    )


class PostgresServer:
    """Runs as the ``postgres`` system user when the tests run as root (initdb refuses root)."""

    def __init__(self, durable: bool = False, settings: dict[str, str] | None = None) -> None:
        self.durable = durable  # fsync on for benchmarks; off makes tests faster
        self.settings = settings or {}  # further postgresql.conf settings
        self.bindir = server_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="cmp-pg-"))
        self.datadir = self.root / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0

    def run(self, *args: str) -> subprocess.CompletedProcess:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True)

    def start(self) -> "PostgresServer":
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self.run("initdb", "-D", str(self.datadir), "-U", "postgres", "-A", "trust",
                 "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        # (--no-sync only skips syncing the freshly made data directory)
        self.boot()
        return self

    def _options(self) -> str:
        return (f"-c listen_addresses=127.0.0.1 -p {self.port} "
                f"-c unix_socket_directories={self.root} -c max_connections=200 "
                f"-c fsync={'on' if self.durable else 'off'}"
                + "".join(f" -c {name}={value}" for name, value in self.settings.items()))

    def crash(self) -> None:
        """kill -9 of the postmaster and every backend at once, as an OOM killer or a
        host failure would; the data directory is left exactly as the crash leaves it."""
        postmaster = self.postmaster_pid()
        children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
        for pid in [postmaster, *map(int, children)]:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        # This machine's init does not reap orphans, so the dead postmaster lingers as a
        # zombie whose pid still answers, and PostgreSQL would take its lock file for a
        # live server's. After a real crash no such process exists: remove the stale files.
        deadline = time.monotonic() + 10
        while Path(f"/proc/{postmaster}").exists() and time.monotonic() < deadline:
            if Path(f"/proc/{postmaster}/stat").read_text().split()[2] == "Z":
                break
            time.sleep(0.05)
        (self.datadir / "postmaster.pid").unlink(missing_ok=True)
        for lock in self.root.glob(".s.PGSQL.*.lock"):
            lock.unlink()

    def postmaster_pid(self) -> int:
        return int((self.datadir / "postmaster.pid").read_text().split()[0])

    def boot(self) -> None:
        """Start the server on its data directory (after a crash, recovery replays the WAL)."""
        self.run("pg_ctl", "-D", str(self.datadir), "-o", self._options(), "-w", "-t", "60",
                 "-l", str(self.root / "server.log"), "start")

    def stop(self) -> None:
        try:
            self.run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop")
        except subprocess.CalledProcessError:
            pass  # not running (a test crashed it); the directory goes all the same
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str) -> None:
        """Run SQL outside a transaction (CREATE/DROP DATABASE need that)."""
        with self._connect() as conn:
            conn.execute(sql)

    def fetch(self, sql: str) -> list[tuple]:
        """The rows of a query, on a connection of its own."""
        with self._connect() as conn:
            return conn.execute(sql).fetchall()

    def _connect(self):
        import psycopg

        return psycopg.connect(self.url().replace("+psycopg", ""), autocommit=True)

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.execute("SELECT 1")
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
