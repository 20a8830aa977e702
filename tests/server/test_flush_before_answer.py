"""A 201 leaves only once its record is on disk: the system calls of the production server
(gunicorn.conf.py: cpu_count + 1 workers of eight threads; concurrent clients) on SQLite,
traced with strace, show for every acknowledged consent a flush of SQLite's log that
began after the record was written and ended before the answer was sent.

This is what makes an acknowledged receipt survive a power cut, not only the death of a
process (which the stress suite's kill -9 tests cover): data that was written but not
flushed is still in the kernel's memory when the process dies, and gone when the power
goes. The second test runs the same check on a server that skips the flush (the
benchmark's take-apart mode) and must find the answers that came too early.
"""
from __future__ import annotations

import json
import os
import signal
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.server import app_env, free_port, prepare, start_server
from tests.support.syscall_trace import calls, strace_command, unflushed_answers

CONSENTS = 160
CLIENTS = 16


def traced_consents(tmp_path: Path, ledger_write: str) -> tuple[list[str], str]:
    """The receipt ids of CONSENTS first-visit consents from CLIENTS concurrent clients to
    a traced server, and the trace."""
    env = app_env(tmp_path / "instance", ledger_write)
    port = free_port()
    site_key, base = prepare(env, port)
    trace = tmp_path / "strace.log"
    tracer = start_server(env, port, tmp_path / "gunicorn.log",
                          wrapper=strace_command(str(trace)))
    try:
        body = json.dumps({"site": site_key, "config_version": 1, "action": "accept_all",
                           "language": "en"}).encode()

        def consent(n: int) -> str:
            request = urllib.request.Request(
                f"{base}/api/v1/consents", data=body, method="POST",
                headers={"Content-Type": "application/json", "Origin": base,
                         "X-Forwarded-For": f"192.0.2.{n % 250}"})
            with urllib.request.urlopen(request, timeout=60) as answer:
                assert answer.status == 201
                return json.loads(answer.read())["receipt"]["receipt_id"]

        with ThreadPoolExecutor(CLIENTS) as pool:
            receipt_ids = list(pool.map(consent, range(CONSENTS)))
    finally:
        stop_traced(tracer)
    return receipt_ids, trace.read_text()


def stop_traced(tracer) -> None:
    """Stop gunicorn gracefully; strace ends with the processes it follows."""
    children = Path(f"/proc/{tracer.pid}/task/{tracer.pid}/children").read_text().split()
    for master in children:
        os.kill(int(master), signal.SIGTERM)
    tracer.wait(timeout=60)


def test_every_answer_follows_a_flush_of_its_record(tmp_path):
    receipt_ids, trace = traced_consents(tmp_path, "durable")
    assert len(set(receipt_ids)) == CONSENTS
    assert unflushed_answers(calls(trace), receipt_ids) == []


def test_the_check_finds_answers_sent_before_the_flush(tmp_path):
    """The same server with SQLite's flush skipped (bench/wsgi_bench.py, "no-flush"): its
    records are committed, so they survive a process's death, but not a power cut."""
    receipt_ids, trace = traced_consents(tmp_path, "no-flush")
    problems = unflushed_answers(calls(trace), receipt_ids)
    assert len(problems) >= CONSENTS // 2, problems
    assert all("with no flush of the log in between" in problem for problem in problems)
