"""The real app plus two bare endpoints, so the baseline is served by the same gunicorn,
the same workers and the same process as what it is compared with, and the floor of any
durable write on this machine: a bare POST that also makes its body durable.

For diagnosis only, BENCH_LEDGER_WRITE takes the consent POST's ledger write apart
(``python -m bench.api --ledger-write ...``; the app itself has no such switch):
"durable" (the default) is the app as it is; "no-flush" commits the rows but skips
SQLite's flush of its log (on PostgreSQL the commit is the flush, so nothing changes);
"none" skips the write, so nothing is stored.
"""
import os
import threading

from flask import current_app, jsonify, request

from bench import LEDGER_WRITES
from cmp_server import create_app
from cmp_server.consent import receipts
from consent_logs.writer import SharedFlush

app = create_app()


@app.get("/bench/bare")
def bare_get():
    return jsonify(ok=True)


@app.post("/bench/bare")
def bare_post():
    request.get_json()
    return jsonify(ok=True), 201


class DurableAppends:
    """Lines appended to a file of this process's own in the instance folder (where the
    SQLite database lives), each acknowledged only once an fdatasync covers it, flushes
    shared between threads as the ledger's writer shares them (``SharedFlush``). Nothing
    else: no database, no index, no validation. What it costs is the least any durable
    write costs on this disk."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pid = 0
        self._file = -1
        self._flush: SharedFlush | None = None

    def append(self, line: bytes) -> None:
        with self._lock:
            if self._pid != os.getpid():  # opened in the process that appends (a worker)
                self._pid = os.getpid()
                path = os.path.join(current_app.instance_path, f"bench-durable-{self._pid}.log")
                self._file = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                                     0o600)
                self._flush = SharedFlush(path)
            os.write(self._file, line)
            position = self._flush.committed()
        self._flush.flush(position)


durable_appends = DurableAppends()


@app.post("/bench/durable")
def durable_post():
    """The bare POST, plus its body made durable before the 201."""
    request.get_json()
    durable_appends.append(request.get_data() + b"\n")
    return jsonify(ok=True), 201


class _Unflushed:
    """The ledger writer, minus the flush."""

    def __init__(self, writer):
        self.writer = writer

    def write(self, rows):
        self.writer.write(rows)
        return 0  # "durable already": sync is never asked for

    def sync(self, position):
        pass


class _Unwritten:
    def write(self, rows):
        return 0

    def sync(self, position):
        pass


def _take_apart(mode: str) -> None:
    if mode not in LEDGER_WRITES:
        raise SystemExit(f"BENCH_LEDGER_WRITE: {mode!r} is not one of {LEDGER_WRITES}")
    group_commit = app.extensions[receipts.LEDGER_WRITER]
    if mode == "no-flush":
        group_commit.writer = _Unflushed(group_commit.writer)
    elif mode == "none":
        group_commit.writer = _Unwritten()


_take_apart(os.environ.get("BENCH_LEDGER_WRITE", "durable"))

# For measuring what the hot path buys (python -m bench.api --hot-path off): the app's own
# Flask dispatch answers the banner GET and the consent POST too.
if os.environ.get("BENCH_HOT_PATH", "on") == "off":
    app.wsgi_app = app.wsgi_app.wsgi_app
