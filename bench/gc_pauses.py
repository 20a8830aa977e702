"""`make bench`: how long a worker's full garbage collections hold it up, with what the
app built at start frozen (gunicorn.conf.py's post_worker_init, as shipped) and without.

A collection holds the GIL, so every request of the worker waits it out. One process
serves banner GETs by calling the WSGI app directly, as a gunicorn worker's thread does,
each from a client address of its own; gc.callbacks times every full collection
(generation 2). The two variants alternate, each in a fresh process; every request must
be answered 200, or the run stops.

python -m bench.gc_pauses --requests 150000
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import runpy
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import publish
from harness.server import throwaway_app

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 2
VARIANTS = {"as loaded (baseline)": False, "frozen (shipped)": True}


class FullCollections:
    """While entered, the duration of each full collection (generation 2), in ms."""

    def __init__(self):
        self.pauses: list[float] = []
        self._started = 0.0

    def _timer(self, phase: str, info: dict) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append(1000 * (time.perf_counter() - self._started))

    def __enter__(self) -> FullCollections:
        gc.callbacks.append(self._timer)
        return self

    def __exit__(self, *_exception) -> None:
        gc.callbacks.remove(self._timer)


def serve(app, site_key: str, requests: int, frozen: bool) -> dict:
    """``requests`` banner GETs (in a process of its own: freezing is for good); the full
    collections' durations and the slowest request, in ms."""
    from bench.threads import environ

    if frozen:
        runpy.run_path(str(ROOT / "gunicorn.conf.py"))["freeze_startup_objects"]()
    path, slowest = f"/api/v1/sites/{site_key}/banner", 0.0
    with FullCollections() as collections:
        for number in range(requests):
            slowest = max(slowest, answer_banner(app, environ(path, b"", number), number))
            if (number + 1) % 50_000 == 0:
                print(f"  {number + 1:,} of {requests:,} requests", file=sys.stderr,
                      flush=True)
    return {"pauses": collections.pauses, "slowest": slowest}


def answer_banner(app, environ: dict, number: int) -> float:
    """One banner GET (a POST's environ turned into a GET); how long it took, in ms."""
    request = {**environ, "REQUEST_METHOD": "GET", "QUERY_STRING": "lang=sv"}
    status = []
    began = time.perf_counter()
    b"".join(app(request, lambda line, _headers: status.append(line)))
    took = 1000 * (time.perf_counter() - began)
    if not status[0].startswith("200"):
        raise RuntimeError(f"request {number} answered {status[0]!r}")
    return took


def measure(env: dict, site_key: str, requests: int, frozen: bool) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "bench.gc_pauses", "--child", site_key,
         "--requests", str(requests), *(["--frozen"] if frozen else [])],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if done.returncode:
        raise RuntimeError("the serving process failed (its error is above)")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(results: dict[str, list[dict]], requests: int) -> str:
    lines = ["| worker's startup objects | requests | full collections | longest ms | "
             "median ms | all of them ms | slowest request ms |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, runs in results.items():
        pauses = sorted(pause for run in runs for pause in run["pauses"])
        median = f"{statistics.median(pauses):.1f}" if pauses else "-"
        longest = f"{pauses[-1]:.1f}" if pauses else "-"
        lines.append(f"| {name} | {requests * len(runs):,} | {len(pauses)} | {longest} | "
                     f"{median} | {sum(pauses):.1f} | "
                     f"{max(run['slowest'] for run in runs):.1f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=150_000, help="per round and variant")
    parser.add_argument("--child", metavar="SITE", help=argparse.SUPPRESS)
    parser.add_argument("--frozen", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        from bench.wsgi_bench import app

        print(json.dumps(serve(app, args.child, args.requests, args.frozen)))
        return 0
    results: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    with throwaway_app("cmp-bench-gc-") as (env, site_key):
        for round_number in range(1, ROUNDS + 1):
            for name, frozen in VARIANTS.items():
                print(f"round {round_number}/{ROUNDS}, {name}:", flush=True)
                results[name].append(measure(env, site_key, args.requests, frozen))
    header = (f"{os.cpu_count()} CPUs, SQLite, one process calling the WSGI app (no HTTP), "
              f"{args.requests:,} banner GETs per round from as many client addresses, "
              f"{ROUNDS} alternating rounds per variant; full collections (generation 2) "
              f"timed with gc.callbacks; {time.strftime('%Y-%m-%d')}")
    publish("gc_pauses.md", header, table(results, args.requests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
