"""What a server did, from its system calls: a reader of ``strace -f -y -ttt -T`` output,
and the check that each acknowledged consent was on disk before its answer left.

A record survives a power cut once an fdatasync (or fsync) of the file it was written to
has run, entirely, after the write. So for each receipt the check finds, in the trace:

- the write of the SQLite log (``-wal``) that first carried the receipt id, and the rest
  of that transaction: the same thread's writes of the log that follow it, up to the
  thread's next other system call (SQLite writes a transaction's frames in one go, and
  its commit frame last);
- the answer: the send of the 201's status line to the client, which precedes its body
  (the body carries the receipt id);
- a flush of the log by any thread of any process that began after the transaction's
  last write ended, and ended before the answer was sent.

It relies on the kernel doing what fdatasync promises; what it verifies is that the
platform never answers before asking for it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

LINE = re.compile(r"(\d+)\s+(\d+\.\d+) (.*)")
DURATION = re.compile(r" <(\d+\.\d+)>$")
TARGET = re.compile(r"\w+\(\d+<([^>]*)>")
FLUSHES = ("fdatasync", "fsync")
SENDS = ("sendto", "sendmsg", "write", "writev")
TRACED = "pwrite64,pwritev,write,writev,fdatasync,fsync,sendto,sendmsg,fcntl"


def strace_command(output: str) -> tuple[str, ...]:
    """strace, following every process and thread, writing to ``output`` what the check
    reads: each call's thread, start, duration, the path behind its descriptor, and the
    data written (whole: a database page is at most 64 KiB)."""
    return ("strace", "-f", "-y", "-ttt", "-T", "-s", "65536", "-o", output,
            "-e", f"trace={TRACED}")


@dataclass
class Call:
    tid: int
    name: str
    start: float
    end: float
    target: str  # what the first argument's descriptor is: a path, or socket:[inode]
    text: str  # the call as strace printed it, arguments and result


def calls(trace: str) -> list[Call]:
    """The completed calls of a trace, in order of their start, with a call that another
    thread interrupted (``<unfinished ...>`` ... ``<... resumed>``) put back together."""
    unfinished: dict[int, tuple[float, str]] = {}
    done = []
    for line in trace.splitlines():
        match = LINE.fullmatch(line)
        if not match:
            continue
        tid, start, text = int(match[1]), float(match[2]), match[3]
        if text.startswith("<... "):
            if tid not in unfinished:
                continue
            start, head = unfinished.pop(tid)
            text = head + text[text.index("resumed>") + len("resumed>"):]
        elif text.endswith("<unfinished ...>"):
            unfinished[tid] = (start, text[:-len("<unfinished ...>")].rstrip())
            continue
        duration = DURATION.search(text)
        if "(" not in text or duration is None:
            continue  # a signal, an exit, or a call the end of the trace cut off
        target = TARGET.match(text)
        done.append(Call(tid, text[:text.index("(")], start, start + float(duration[1]),
                         target[1] if target else "", text))
    return sorted(done, key=lambda call: call.start)


def unflushed_answers(trace: list[Call], receipt_ids: list[str]) -> list[str]:
    """For each receipt answered without a flush of its log in between, why."""
    log_writes = [c for c in trace if c.name.startswith("pwrite") and c.target.endswith("-wal")]
    flushes = [c for c in trace if c.name in FLUSHES and c.target.endswith("-wal")]
    by_thread: dict[int, list[Call]] = {}
    for call in trace:
        by_thread.setdefault(call.tid, []).append(call)
    problems = []
    for receipt_id in receipt_ids:
        first = next((c for c in log_writes if receipt_id in c.text), None)
        answer = answer_to(trace, by_thread, receipt_id)
        if first is None:
            problems.append(f"{receipt_id}: never written to the log")
        elif answer is None:
            problems.append(f"{receipt_id}: no answer found")
        else:
            written = transaction_end(by_thread[first.tid], first)
            if not any(written <= f.start and f.end <= answer.start for f in flushes):
                problems.append(f"{receipt_id}: answered {1000 * (answer.start - written):.2f} "
                                f"ms after its write, with no flush of the log in between")
    return problems


def transaction_end(thread_calls: list[Call], first_write: Call) -> float:
    """When the transaction whose write is ``first_write`` ended: its thread's last write
    of the same log before it made any other call."""
    end = first_write.end
    for call in thread_calls[thread_calls.index(first_write) + 1:]:
        if not (call.name.startswith("pwrite") and call.target == first_write.target):
            break
        end = call.end
    return end


def answer_to(trace: list[Call], by_thread: dict[int, list[Call]], receipt_id: str,
              ) -> Call | None:
    """The send of the status line of the answer whose body carries ``receipt_id``."""
    body = next((c for c in trace if c.name in SENDS and c.target.startswith("socket:")
                 and receipt_id in c.text), None)
    if body is None:
        return None
    before = by_thread[body.tid][:by_thread[body.tid].index(body) + 1]
    return next((c for c in reversed(before) if c.target == body.target
                 and '"HTTP/1.' in c.text), body)
