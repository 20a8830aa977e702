"""`make bench`: the consent POST and the banner GET (fresh and 304) under gunicorn, each
beside a bare Flask endpoint served by the same gunicorn in the same run, on SQLite and on
PostgreSQL. wrk drives the load from a second process over loopback.

Prints a table (requests per second, p50 and p99 latency, errors, ratio to the bare
endpoint) and writes it to bench/results/api.md. Each endpoint and its baseline run in
alternating rounds; round length, connections and endpoints can be set:
python -m bench.api --seconds 4 --connections 16 --only consent
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.load import Result, run_wrk, wait_until_up
from tests.pg import PostgresServer, free_port

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"
ROUNDS = 5


def say(message: str) -> None:
    print(message, flush=True)


def flask_cli(env: dict, *args: str) -> str:
    done = subprocess.run([str(VENV_BIN / "flask"), "--app", "cmp_server", "cmp", *args],
                          env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout


def start_server(env: dict, port: int, log: Path, app: str = "bench.wsgi_bench:app",
                 ) -> subprocess.Popen:
    """gunicorn with gunicorn.conf.py (the production settings) on ``port``."""
    with log.open("a") as handle:  # the server keeps its own copy of the descriptor
        process = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", app],
            env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT,
        )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz")
    except TimeoutError:
        process.kill()
        raise RuntimeError(f"gunicorn did not start; see {log}") from None
    return process


def wrk(url: str, seconds: int, connections: int, **request) -> Result:
    """Every request from one of many clients behind one trusted proxy, as in production
    behind a load balancer (the per-client rate limit applies as it would there)."""
    return run_wrk(url, seconds, connections, many_clients=True, **request)


def prepare(env: dict, port: int) -> tuple[str, str]:
    flask_cli(env, "init")
    flask_cli(env, "import-vendors")
    site_key = flask_cli(env, "demo", "--port", str(port)).strip().splitlines()[-1]
    return site_key, f"http://127.0.0.1:{port}"


def measure_engine(engine: str, env: dict, seconds: int, connections: int,
                   workdir: Path, only: str = "") -> dict[str, tuple[Result, Result]]:
    port = free_port()
    site_key, base = prepare(env, port)
    server = start_server(env, port, workdir / f"gunicorn-{engine}.log")
    try:
        banner = f"{base}/api/v1/sites/{site_key}/banner?lang=sv"
        etag = urllib.request.urlopen(banner).headers["ETag"]
        consent = json.dumps({"site": site_key, "config_version": 1, "action": "accept_all",
                              "language": "sv"})
        json_headers = {"Content-Type": "application/json"}
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
        }
        results = {}
        for name, (subject, baseline) in cases.items():
            if only not in name:
                continue
            say(f"[{engine}] {name}: warming up")
            wrk(seconds=2, connections=connections, **subject)
            say(f"[{engine}] {name}: {ROUNDS} rounds of {seconds}s, each beside the bare "
                f"endpoint")
            results[name] = interleaved(subject, baseline, seconds, connections)
        return results
    finally:
        server.terminate()
        server.wait(timeout=30)


def interleaved(subject: dict, baseline: dict, seconds: int,
                connections: int) -> tuple[Result, Result]:
    """The endpoint and the bare one in alternating rounds, so a slow spell of the machine
    (a shared VM drifts by tens of percent over a minute) weighs on both alike. Requests
    per second over all rounds; p50 the median of the rounds', p99 the worst round's."""
    rounds = [(wrk(seconds=seconds, connections=connections, **subject),
               wrk(seconds=seconds, connections=connections, **baseline))
              for _ in range(ROUNDS)]
    return tuple(combined([pair[i] for pair in rounds], seconds) for i in (0, 1))


def combined(results: list[Result], seconds: int) -> Result:
    return Result(
        requests=sum(r.requests for r in results),
        rps=sum(r.requests for r in results) / (seconds * len(results)),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=max(r.p99_ms for r in results),
        errors=sum(r.errors for r in results),
        socket_errors=sum(r.socket_errors for r in results),
    )


def table(all_results: dict[str, dict[str, tuple[Result, Result]]]) -> str:
    lines = ["| engine | endpoint | req/s | p50 ms | p99 ms | errors | bare req/s | bare p50 ms | ratio |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for engine, results in all_results.items():
        for name, (subject, bare) in results.items():
            lines.append(
                f"| {engine} | {name} | {subject.rps:,.0f} | {subject.p50_ms:.2f} | "
                f"{subject.p99_ms:.2f} | {subject.errors} | {bare.rps:,.0f} | "
                f"{bare.p50_ms:.2f} | {subject.rps / bare.rps:.0%} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=4, help="length of each round")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--only", default="", help="measure only endpoints whose name has this")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="cmp-bench-"))
    base_env = {**os.environ, "CMP_SECRET_KEYS": "bench-secret-key", "CMP_TRUSTED_PROXY_HOPS": "1"}
    all_results = {}
    for engine in args.engines.split(","):
        instance = workdir / f"instance-{engine}"
        env = {**base_env, "CMP_INSTANCE_PATH": str(instance)}
        postgres = None
        if engine == "postgresql":
            say("[postgresql] starting a throw-away server (fsync on)")
            postgres = PostgresServer(durable=True).start()
            postgres.wait_ready()
            postgres.execute("CREATE DATABASE cmp_bench")
            env["CMP_DATABASE_URL"] = postgres.url("cmp_bench")
        try:
            all_results[engine] = measure_engine(engine, env, args.seconds,
                                                 args.connections, workdir, args.only)
        finally:
            if postgres:
                postgres.stop()
    report = table(all_results)
    cpus = os.cpu_count()
    header = (f"{cpus} CPUs, gunicorn with gunicorn.conf.py (the production settings), "
              f"wrk -t2 -c{args.connections}, {ROUNDS} alternating rounds of {args.seconds}s "
              f"per endpoint and baseline on loopback, each request "
              f"from one of 32,768 client addresses behind one trusted proxy, "
              f"{time.strftime('%Y-%m-%d')}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "api.md").write_text(f"{header}\n\n{report}\n")
    print(f"\n{header}\n\n{report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
