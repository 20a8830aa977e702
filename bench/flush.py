"""`make bench`, the disk part: what making a write durable costs on this machine, beside
the same write left to the kernel. The consent ledger pays for one such flush per batch
of consents (consent_logs.writer), so this is the floor under a durable consent POST.

Appends 8 KiB at a time (two ledger pages) to a file in the instance folder, which is
where the SQLite database lives: once calling fdatasync after each write, once without.
Per write: CPU time (user and system, os.times) and wall time. Prints a table and writes
it to bench/results/flush.md:
python -m bench.flush --writes 2000
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import publish
from cmp_server.platform.settings import instance_path

ROOT = Path(__file__).resolve().parent.parent
WRITE = b"\x00" * 8192


@dataclass
class Cost:
    user_us: float
    system_us: float
    wall_us: float


def appends(directory: Path, writes: int, flush: bool) -> Cost:
    """``writes`` appends to a new file, each followed by fdatasync when ``flush``."""
    with tempfile.NamedTemporaryFile(dir=directory, prefix="flush-bench-") as handle:
        fd = handle.fileno()
        started, wall = os.times(), time.perf_counter()
        for number in range(writes):
            os.pwrite(fd, WRITE, number * len(WRITE))
            if flush:
                os.fdatasync(fd)
            if (number + 1) % (writes // 4 or 1) == 0:
                print(f"  {'with' if flush else 'without'} fdatasync: "
                      f"{number + 1}/{writes}", flush=True)
        wall = time.perf_counter() - wall
        ended = os.times()
    return Cost(1e6 * (ended.user - started.user) / writes,
                1e6 * (ended.system - started.system) / writes, 1e6 * wall / writes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--dir", type=Path, default=None,
                        help="where to write (default: CMP_INSTANCE_PATH, else ./instance)")
    args = parser.parse_args()
    directory = args.dir or Path(instance_path() or ROOT / "instance")
    directory.mkdir(parents=True, exist_ok=True)
    print(f"{args.writes} appends of 8 KiB in {directory}", flush=True)
    plain = appends(directory, args.writes, flush=False)
    durable = appends(directory, args.writes, flush=True)
    lines = ["| append of 8 KiB | user µs | system µs | wall µs |", "|---|---:|---:|---:|"]
    for name, cost in (("without fdatasync (baseline)", plain),
                       ("with fdatasync", durable)):
        lines.append(f"| {name} | {cost.user_us:.0f} | {cost.system_us:.0f} | "
                     f"{cost.wall_us:.0f} |")
    header = (f"{os.cpu_count()} CPUs, {args.writes} appends per row, "
              f"{time.strftime('%Y-%m-%d')}")
    report = "\n".join(lines)
    publish("flush.md", header, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
