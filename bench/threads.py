"""`make bench`, the in-process part: what one consent costs the CPU as a server process
runs more request threads, with the ledger write skipped, committed without SQLite's
flush, and durable, beside the bare endpoint at the same number of threads.

The consent POST misses its 50% target in bench.api, and this shows where, without HTTP,
wrk or gunicorn in the way: T threads of one process call the WSGI app directly, as the
threads of a gunicorn gthread worker do, each request from a client address of its own.
CPU is the process's CPU time per request (all threads, user and system), the median of
alternating rounds. Every request must be answered as expected (201 with a receipt), or
the run stops: an error is cheaper than a consent and would flatter the figures.

With one thread a consent pays for its own write only (the statement, the flush). With
more, every point where the write lets go of the GIL (SQLite's statement, the flush,
the group commit's hand-overs) lets another busy thread take it, and getting it back
costs context switches, which a virtual machine makes dear.

python -m bench.threads --requests 2400 --threads 1,2,4,8
"""
from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench import LEDGER_WRITES, publish
from harness.server import throwaway_app

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 3
WARM_UP = 50
MODE_NAMES = {"none": "consent, write skipped", "no-flush": "consent, not flushed",
              "durable": "consent, durable"}
# (column, path, ledger write): the bare POST, then the consent with more of its write
VARIANTS = (("bare POST", "/bench/bare", "durable"),
            *((MODE_NAMES[mode], "/api/v1/consents", mode) for mode in reversed(LEDGER_WRITES)))


@dataclass
class Cost:
    cpu_us: float  # per request, all threads of the process
    rps: float


def client_address(number: int) -> str:
    """A public address per request (so the geo lookup and the rate limit work as for
    real visitors), cycling through 2^24 of them."""
    return f"130.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}"


def environ(path: str, body: bytes, number: int, origin: str | None = None) -> dict:
    """A POST's WSGI environ (from a page on ``origin``, if given), built by hand:
    werkzeug's EnvironBuilder would add its own cost to every request measured."""
    headers = {"HTTP_ORIGIN": origin} if origin else {}
    return {**headers,
        "REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": "",
        "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1", "REMOTE_ADDR": "127.0.0.1",
        "HTTP_X_FORWARDED_FOR": client_address(number),
    }


def run_threads(app, path: str, body: bytes, threads: int, requests: int, origin: str) -> Cost:
    """``requests`` POSTs to ``path`` from ``threads`` threads, as from a page on
    ``origin``; raises if any is not answered 201."""
    numbers = iter(range(WARM_UP, WARM_UP + requests))
    lock = threading.Lock()
    wrong: list[str] = []

    def serve() -> None:
        while True:
            with lock:
                number = next(numbers, None)
            if number is None:
                return
            status = []
            b"".join(app(environ(path, body, number, origin), lambda line, _headers: status.append(line)))
            if not status[0].startswith("201"):
                wrong.append(status[0])

    for number in range(WARM_UP):
        b"".join(app(environ(path, body, number, origin), lambda _line, _headers: None))
    cpu, wall = time.process_time(), time.perf_counter()
    workers = [threading.Thread(target=serve) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if wrong:
        raise RuntimeError(f"{len(wrong)} of {requests} requests not answered 201, "
                           f"such as {wrong[0]!r}")
    return Cost(1e6 * cpu / requests, requests / wall)


def child(path: str, threads: int, requests: int, site_key: str) -> None:
    """Run in a process of its own (the ledger write mode is read at import); prints the
    cost as JSON."""
    from bench.wsgi_bench import app
    from cmp_server.sites.registry import get_site

    body = json.dumps({"site": site_key, "config_version": 1, "action": "accept_all",
                       "language": "sv"}).encode()
    with app.app_context():
        origin = get_site(site_key).origin_list[0]  # the demo page's, as the banner sends it
    cost = run_threads(app, path, body, threads, requests, origin)
    print(json.dumps(cost.__dict__))


def measure(env: dict, variant: tuple[str, str, str], threads: int, requests: int,
            site_key: str) -> Cost:
    name, path, mode = variant
    done = subprocess.run(
        [sys.executable, "-m", "bench.threads", "--child", path, "--threads", str(threads),
         "--requests", str(requests), "--site", site_key],
        env={**env, "BENCH_LEDGER_WRITE": mode}, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{name} with {threads} threads failed:\n{done.stderr[-2000:]}")
    return Cost(**json.loads(done.stdout.strip().splitlines()[-1]))


def table(costs: dict[tuple[int, str], list[Cost]], thread_counts: list[int]) -> str:
    names = [name for name, _path, _mode in VARIANTS]
    lines = ["| threads | " + " | ".join(f"{name}: CPU µs/req" for name in names)
             + " | durable write adds | consents/s (durable) |",
             "|---:|" + "---:|" * (len(names) + 2)]
    for threads in thread_counts:
        cpu = {name: statistics.median(c.cpu_us for c in costs[threads, name]) for name in names}
        write = cpu[MODE_NAMES["durable"]] - cpu[MODE_NAMES["none"]]
        rps = statistics.median(c.rps for c in costs[threads, MODE_NAMES["durable"]])
        lines.append(f"| {threads} | " + " | ".join(f"{cpu[name]:.0f}" for name in names)
                     + f" | {write:.0f} | {rps:,.0f} |")
    return "\n".join(lines)


def measure_all(env: dict, thread_counts: list[int], requests: int,
                site_key: str) -> dict[tuple[int, str], list[Cost]]:
    """Every variant at every thread count, in alternating rounds."""
    costs: dict[tuple[int, str], list[Cost]] = {}
    for round_number in range(1, ROUNDS + 1):
        for threads in thread_counts:
            for variant in VARIANTS:
                cost = measure(env, variant, threads, requests, site_key)
                costs.setdefault((threads, variant[0]), []).append(cost)
                print(f"round {round_number}/{ROUNDS}, {threads} thread"
                      f"{'s' if threads > 1 else ''}, {variant[0]}: "
                      f"{cost.cpu_us:.0f} µs CPU per request", flush=True)
    return costs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2400, help="per thread count and variant")
    parser.add_argument("--threads", default="1,2,4,8")
    parser.add_argument("--child", metavar="PATH", help=argparse.SUPPRESS)
    parser.add_argument("--site", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, int(args.threads), args.requests, args.site)
        return 0
    thread_counts = [int(n) for n in args.threads.split(",")]
    with throwaway_app("cmp-bench-threads-") as (env, site_key):
        costs = measure_all(env, thread_counts, args.requests, site_key)
    header = (f"{os.cpu_count()} CPUs, SQLite in a throw-away instance folder, "
              f"{args.requests} POSTs per cell from threads of one process calling the "
              f"WSGI app (no HTTP), median of {ROUNDS} alternating rounds; "
              f"{time.strftime('%Y-%m-%d')}")
    publish("threads.md", header, table(costs, thread_counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
