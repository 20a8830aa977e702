"""`make bench`: the consent POST and the banner GET (fresh and 304) under gunicorn, each
beside a bare Flask endpoint served by the same gunicorn in the same run, on SQLite and on
PostgreSQL. wrk drives the load from a second process over loopback.

Prints a table (requests per second, p50 and p99 latency, errors, ratio to the bare
endpoint) and writes it to bench/results/api.md. Durations and connections can be set:
python -m bench.api --seconds 10 --connections 16
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.pg import PostgresServer, free_port

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def say(message: str) -> None:
    print(message, flush=True)


def flask_cli(env: dict, *args: str) -> str:
    done = subprocess.run([str(VENV_BIN / "flask"), "--app", "cmp_server", "cmp", *args],
                          env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout


def start_server(env: dict, port: int, log: Path) -> subprocess.Popen:
    handle = log.open("w")
    process = subprocess.Popen(
        [str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "bench.wsgi_bench:app"],
        env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"gunicorn did not start; see {log}")


def to_ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, seconds: int, connections: int, method: str = "GET",
        body: str | None = None, headers: dict[str, str] | None = None) -> Result:
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    with script:
        script.write(f"wrk.method = {json.dumps(method)}\n")
        if body is not None:
            script.write(f"wrk.body = {json.dumps(body)}\n")
        for name, value in (headers or {}).items():
            script.write(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}\n")
    try:
        output = subprocess.run(
            ["wrk", "--latency", "-t", "2", "-c", str(connections), "-d", f"{seconds}s",
             "-s", script.name, url],
            capture_output=True, text=True, check=True, timeout=seconds + 60,
        ).stdout
    finally:
        os.unlink(script.name)
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    return Result(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        p50_ms=to_ms(re.search(r"\s50%\s+(\S+)", output).group(1)),
        p99_ms=to_ms(re.search(r"\s99%\s+(\S+)", output).group(1)),
        errors=errors,
    )


def prepare(env: dict, port: int) -> tuple[str, str]:
    flask_cli(env, "init")
    flask_cli(env, "import-vendors")
    site_key = flask_cli(env, "demo", "--port", str(port)).strip().splitlines()[-1]
    return site_key, f"http://127.0.0.1:{port}"


def measure_engine(engine: str, env: dict, seconds: int, connections: int,
                   workdir: Path) -> dict[str, tuple[Result, Result]]:
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
            say(f"[{engine}] {name}: warming up")
            wrk(seconds=2, connections=connections, **subject)
            say(f"[{engine}] {name}: measuring {seconds}s against the bare endpoint")
            results[name] = (wrk(seconds=seconds, connections=connections, **subject),
                             wrk(seconds=seconds, connections=connections, **baseline))
        return results
    finally:
        server.terminate()
        server.wait(timeout=30)


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
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--engines", default="sqlite,postgresql")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="cmp-bench-"))
    base_env = {**os.environ, "CMP_SECRET_KEYS": "bench-secret-key"}
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
            all_results[engine] = measure_engine(engine, env, args.seconds, args.connections, workdir)
        finally:
            if postgres:
                postgres.stop()
    report = table(all_results)
    cpus = os.cpu_count()
    header = (f"{cpus} CPUs, gunicorn sync workers as in gunicorn.conf.py, wrk -t2 "
              f"-c{args.connections} -d{args.seconds}s on loopback, "
              f"{time.strftime('%Y-%m-%d')}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "api.md").write_text(f"{header}\n\n{report}\n")
    print(f"\n{header}\n\n{report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
