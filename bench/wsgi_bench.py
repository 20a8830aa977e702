"""The real app plus two bare endpoints, so the baseline is served by the same gunicorn,
the same workers and the same process as what it is compared with.

For diagnosis only, BENCH_LEDGER_WRITE takes the consent POST's ledger write apart
(``python -m bench.api --ledger-write ...``; the app itself has no such switch):
"durable" (the default) is the app as it is; "no-flush" commits the rows but skips
SQLite's flush of its log (on PostgreSQL the commit is the flush, so nothing changes);
"none" skips the write, so nothing is stored.
"""
import os

from flask import jsonify, request

from bench import LEDGER_WRITES
from cmp_server import create_app, receipts

app = create_app()


@app.get("/bench/bare")
def bare_get():
    return jsonify(ok=True)


@app.post("/bench/bare")
def bare_post():
    request.get_json()
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
