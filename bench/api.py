"""`make bench`: the consent POST and the banner GET (fresh and 304) under gunicorn, each
beside a bare Flask endpoint served by the same gunicorn in the same run, on SQLite and on
PostgreSQL. wrk drives the load from a second process over loopback.

Prints a table (requests per second, p50 and p99 latency, errors, ratio to the bare
endpoint) and writes it to bench/results/api.md. Each endpoint and its baseline run in
alternating rounds; round length, connections and endpoints can be set:
python -m bench.api --seconds 4 --connections 16 --only consent

Beside the targets it measures a floor: a bare POST that also makes its body durable (an
append and a shared fdatasync, nothing else), the least any durable write costs on this
machine, so the consent POST's ratio can be read against it.

``--ledger-write no-flush`` or ``none`` takes the consent POST's ledger write apart, to
see what each part costs (bench/wsgi_bench.py); such runs write
bench/results/api-<mode>.md instead.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from bench import LEDGER_WRITES, publish
from bench.load import (
    MachineTime, Result, Usage, machine_time, process_tree_usage, run_wrk,
)
from harness.postgres import PostgresServer
from harness.server import app_env, free_port, prepare, start_server

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
ROUNDS = 6  # even, so that each of a pair goes first equally often


@dataclass
class ServerCost:
    """What the server (gunicorn's processes and, on PostgreSQL, the database's) spent
    per request: CPU time, and context switches of its threads; and the share of the
    machine's CPU time nobody used meanwhile (near 0: the rounds were bound by the CPU,
    not by waiting)."""
    cpu_ms: float
    switches: float
    idle_share: float


@dataclass
class Comparison:
    """An endpoint beside the bare one: both over all rounds, each round's ratio (the
    spread shows how far the shared VM moves a single round), and what the server spent
    per request on each."""
    subject: Result
    bare: Result
    round_ratios: list[float]
    subject_cost: ServerCost
    bare_cost: ServerCost

    @property
    def ratio(self) -> float:
        return self.subject.rps / self.bare.rps


def say(message: str) -> None:
    print(message, flush=True)


def wrk(url: str, seconds: int, connections: int, **request) -> Result:
    """Every request from one of many clients behind one trusted proxy, as in production
    behind a load balancer (the per-client rate limit applies as it would there)."""
    return run_wrk(url, seconds, connections, many_clients=True, **request)


class Round(NamedTuple):
    """One round: wrk's result, what the server's processes used meanwhile, and the
    machine's CPU time meanwhile."""
    result: Result
    usage: Usage
    machine: MachineTime


def measured(server_pids: list[int], **wrk_args) -> Round:
    before, machine_before = process_tree_usage(server_pids), machine_time()
    result = wrk(**wrk_args)
    return Round(result, process_tree_usage(server_pids) - before,
                 machine_time() - machine_before)


def measure_engine(engine: str, env: dict, seconds: int, connections: int,
                   workdir: Path, only: str = "", database_pids: tuple[int, ...] = (),
                   ) -> dict[str, Comparison]:
    port = free_port()
    site_key, base = prepare(env, port)
    server = start_server(env, port, workdir / f"gunicorn-{engine}.log")
    server_pids = [server.pid, *database_pids]
    try:
        banner = f"{base}/api/v1/sites/{site_key}/banner?lang=sv"
        etag = urllib.request.urlopen(banner).headers["ETag"]
        consent = json.dumps({"site": site_key, "config_version": 1, "action": "accept_all",
                              "language": "sv"})
        # as the banner sends them from the demo page (both sides alike)
        json_headers = {"Content-Type": "application/json", "Origin": base}
        cases = {
            "banner GET (200)": (
                dict(url=banner),
                dict(url=f"{base}/bench/bare")),
            "banner GET (304)": (
                dict(url=banner, headers={"If-None-Match": etag}),
                dict(url=f"{base}/bench/bare")),
            "consent POST (201)": (
                dict(url=f"{base}/api/v1/consents", method="POST", body=consent,
                     headers=json_headers),
                dict(url=f"{base}/bench/bare", method="POST", body=consent,
                     headers=json_headers)),
            # not a target: the least any durable write costs here (bench/wsgi_bench.py)
            "floor: bare POST + durable append (201)": (
                dict(url=f"{base}/bench/durable", method="POST", body=consent,
                     headers=json_headers),
                dict(url=f"{base}/bench/bare", method="POST", body=consent,
                     headers=json_headers)),
        }
        results = {}
        for name, (subject, baseline) in cases.items():
            if only not in name:
                continue
            say(f"[{engine}] {name}: warming up")
            wrk(seconds=2, connections=connections, **subject)
            say(f"[{engine}] {name}: {ROUNDS} rounds of {seconds}s, each beside the bare "
                f"endpoint")
            results[name] = interleaved(subject, baseline, seconds, connections,
                                        server_pids)
        return results
    finally:
        server.terminate()
        server.wait(timeout=30)


def interleaved(subject: dict, baseline: dict, seconds: int, connections: int,
                server_pids: list[int]) -> Comparison:
    """The endpoint and the bare one in alternating rounds, so a slow spell of the machine
    (a shared VM drifts by tens of percent over a minute) weighs on both alike. Which of
    the two goes first alternates too (A B, B A, ...), so neither more often inherits what
    the other leaves behind (the kernel's writeback of a durable round, warm caches).
    Requests per second over all rounds; p50 the median of the rounds', p99 the worst
    round's. Round ratios pair each round of the endpoint with the bare round beside it."""
    run = dict(seconds=seconds, connections=connections)
    own, bare = [], []
    for round_number in range(ROUNDS):
        pair = [(own, subject), (bare, baseline)]
        for rounds, request in (pair if round_number % 2 == 0 else reversed(pair)):
            rounds.append(measured(server_pids, **run, **request))
    return Comparison(
        combined([round_.result for round_ in own], seconds),
        combined([round_.result for round_ in bare], seconds),
        [mine.result.rps / theirs.result.rps for mine, theirs in zip(own, bare)],
        cost_per_request(own), cost_per_request(bare))


def cost_per_request(rounds: list[Round]) -> ServerCost:
    requests = max(1, sum(round_.result.requests for round_ in rounds))
    machine = sum((round_.machine for round_ in rounds), MachineTime(0, 0))
    return ServerCost(1000 * sum(round_.usage.cpu_seconds for round_ in rounds) / requests,
                      sum(round_.usage.switches for round_ in rounds) / requests,
                      machine.idle_share)


def combined(results: list[Result], seconds: int) -> Result:
    return Result(
        requests=sum(r.requests for r in results),
        rps=sum(r.requests for r in results) / (seconds * len(results)),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=max(r.p99_ms for r in results),
        errors=sum(r.errors for r in results),
        socket_errors=sum(r.socket_errors for r in results),
    )


def table(all_results: dict[str, dict[str, Comparison]]) -> str:
    lines = ["| engine | endpoint | req/s | p50 ms | p99 ms | errors | bare req/s | "
             "bare p50 ms | bare p99 ms | ratio | rounds' ratios | CPU ms/req | bare CPU ms/req | "
             "switches/req | bare switches/req | CPU idle | bare CPU idle |",
             "|---|---|" + "---:|" * 15]
    for engine, results in all_results.items():
        for name, c in results.items():
            lines.append(
                f"| {engine} | {name} | {c.subject.rps:,.0f} | {c.subject.p50_ms:.2f} | "
                f"{c.subject.p99_ms:.2f} | {c.subject.errors} | {c.bare.rps:,.0f} | "
                f"{c.bare.p50_ms:.2f} | {c.bare.p99_ms:.2f} | {c.ratio:.0%} | "
                f"{min(c.round_ratios):.0%}-{max(c.round_ratios):.0%} | "
                f"{c.subject_cost.cpu_ms:.2f} | {c.bare_cost.cpu_ms:.2f} | "
                f"{c.subject_cost.switches:.1f} | {c.bare_cost.switches:.1f} | "
                f"{c.subject_cost.idle_share:.0%} | {c.bare_cost.idle_share:.0%} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=4, help="length of each round")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--only", default="", help="measure only endpoints whose name has this")
    parser.add_argument("--ledger-write", choices=LEDGER_WRITES, default="durable",
                        help="for diagnosis: skip the flush, or the whole ledger write")
    parser.add_argument("--hot-path", choices=("on", "off"), default="on",
                        help="off: Flask's dispatch answers the banner GET and consent POST")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="cmp-bench-"))
    all_results = {}
    for engine in args.engines.split(","):
        env = {**app_env(workdir / f"instance-{engine}", args.ledger_write),
               "BENCH_HOT_PATH": args.hot_path}
        postgres = None
        if engine == "postgresql":
            say("[postgresql] starting a throw-away server (fsync on)")
            postgres = PostgresServer(durable=True).start()
            postgres.wait_ready()
            postgres.execute("CREATE DATABASE cmp_bench")
            env["CMP_DATABASE_URL"] = postgres.url("cmp_bench")
        try:
            all_results[engine] = measure_engine(
                engine, env, args.seconds, args.connections, workdir, args.only,
                database_pids=(postgres.postmaster_pid(),) if postgres else ())
        finally:
            if postgres:
                postgres.stop()
    report = table(all_results)
    cpus = os.cpu_count()
    header = (f"{cpus} CPUs, gunicorn with gunicorn.conf.py (the production settings), "
              f"wrk -t2 -c{args.connections}, {ROUNDS} alternating rounds of {args.seconds}s "
              f"per endpoint and baseline (each first in half of them) on loopback, each "
              f"request from one of 32,768 client addresses behind one trusted proxy; CPU ms/req: "
              f"user and system time of gunicorn's processes (on PostgreSQL also the "
              f"server's) per request, from /proc; switches/req: context switches of their "
              f"threads per request, from /proc; CPU idle: the share of the machine's CPU time "
              f"left idle during the rounds (wrk's own use included), from /proc/stat; "
              f"{time.strftime('%Y-%m-%d')}")
    name = "api.md"
    if args.ledger_write != "durable":
        header += f"; ledger write: {args.ledger_write} (diagnosis, not the product)"
        name = f"api-{args.ledger_write}.md"
    if args.hot_path == "off":
        header += "; hot path off: Flask's dispatch answers every request"
        name = name.replace(".md", "-no-hot-path.md")
    publish(name, header, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
