"""`make bench`, the proof bundle part: how fast a site's records are sealed, exported
(`flask --app cmp_server cmp export`) and verified offline (`python -m consent_logs verify`),
and how much memory the export and the verifier need, for 100 thousand and 1 million
records, on SQLite and on PostgreSQL (fsync on).

Each database is fresh: `cmp init`, `cmp import-vendors`, `cmp demo`. Five real receipts
are recorded through cmp_server.receipts.record_consent (accept all, reject all, custom,
GPC, withdrawal); the rest of the ledger is filled from copies of them with their own
receipt id, visitor, time (spread over the past year), action and state, inserted in
batches with the very row Ledger.append would insert (checked against the five real rows
before filling). Everything is sealed (cmp_server.sealing.seal_now) before the export is
timed, so the export's own work is its retention purge and the bundle.

The export and the verifier each run in a child process under /usr/bin/time -v (or, when
that is missing, under a small Python parent reading RUSAGE_CHILDREN), so their peak
resident memory is their own. Each is compared with the same command on no records: the
export of a site with an empty ledger (same database, before filling) and the verification
of that empty bundle. The growth over that baseline is what the records cost.

Beside each figure, a floor measured in the same run on the same data (bench/export_floor.py,
each in a child process): for the export, its purge's judging (the candidates and each
one's visitor's next record, read raw by the quicker of two queries, in a copy of the
database taken before it), its purge's writes (the records it removed replaced by
tombstones in that copy, in one set-based transaction) plus the site's rows read raw and
their bytes written to a zip, nothing rendered; for the verifier, the bundle's records inflated and each line hashed
once, nothing parsed; for sealing, the leaf hashes read raw, each batch's Merkle root and its
member rows written. The table gives each step's rate, its floor's, and floor/step (how many
times slower than the floor the step is).

Prints a table and writes it to bench/results/export.md:
python -m bench.export --sizes 100000,1000000 --engines sqlite,postgresql
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from bench import publish
from harness.postgres import PostgresServer
from harness.server import flask_cli

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
GNU_TIME = Path("/usr/bin/time")
MiB = 1024 * 1024

FILL_BATCH = 5_000        # rows per INSERT transaction while filling
FILL_PROGRESS = 100_000   # a progress line every this many rows
SEAL_BATCH = 10_000       # as `cmp seal` and the export use
PERIOD = ("2000-01-01", "2100-01-01")  # every record
EMPTY_PERIOD = ("1990-01-01", "1990-01-02")
# What visitors do, by share of receipts; "returning" visitors replace an earlier receipt.
ACTIONS = {"accept_all": 0.55, "reject_all": 0.25, "custom": 0.10, "gpc": 0.04, "withdraw": 0.06}
RETURNING = 0.15
LANGUAGES = ["sv", "en", "de", "fi", "nb"]
REGIONS = ["SE", "DE", "FI", "NO", "FR", None]

# The fallback when /usr/bin/time is missing: a fresh parent whose only child is the
# command, so RUSAGE_CHILDREN's peak is that command's.
PEAK_WRAPPER = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(sys.argv[1], "w") as out:
    out.write(f"Maximum resident set size (kbytes): {peak}\\n")
sys.exit(code)
"""


def say(message: str) -> None:
    print(message, flush=True)


@dataclass
class Run:
    seconds: float
    peak_mib: float
    stdout: str


@dataclass
class Result:
    engine: str
    records: int
    fill_rate: float
    seal_rate: float
    export_seconds: float
    export_peak: float
    export_base: float
    purged: int
    bundle_mib: float
    verify_seconds: float
    verify_peak: float
    verify_base: float
    seal_floor: float = 0.0    # records/s
    bundle_floor_seconds: float = 0.0  # the export's floor without its purge
    purge_floor_seconds: float = 0.0   # the purge's writes alone, one transaction
    judge_floor_seconds: float = 0.0   # the purge's judging alone, one raw query
    verify_floor: float = 0.0
    again_seconds: float = 0.0  # the same export run again: nothing left to purge

    @property
    def export_floor(self) -> float:
        """The export's floor, purge included: its judging, its writes, then the bundle's
        floor."""
        return self.records / (self.judge_floor_seconds + self.purge_floor_seconds
                               + self.bundle_floor_seconds)

    @property
    def bundle_floor(self) -> float:
        return self.records / self.bundle_floor_seconds

    @property
    def export_rate(self) -> float:
        return self.records / self.export_seconds

    @property
    def again_rate(self) -> float:
        return self.records / self.again_seconds

    @property
    def verify_rate(self) -> float:
        return self.records / self.verify_seconds


# --- child processes ---------------------------------------------------------------------

def measured(command: list[str], env: dict,
             echo: Callable[[str], None] | None = None) -> Run:
    """Run ``command`` in a child; its wall time and peak resident memory."""
    fd, usage_path = tempfile.mkstemp(prefix="cmp-bench-rusage-")
    os.close(fd)
    if GNU_TIME.exists():
        argv = [str(GNU_TIME), "-v", "-o", usage_path, *command]
    else:
        argv = [sys.executable, "-c", PEAK_WRAPPER, usage_path, *command]
    try:
        start = time.monotonic()
        child = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        errors = []
        for line in child.stderr:  # the export's progress; stdout is a few lines
            errors.append(line)
            if echo:
                echo(line.rstrip("\n"))
        stdout = child.stdout.read()
        status = child.wait()
        seconds = time.monotonic() - start
        if status:
            raise RuntimeError(f"{' '.join(command)} exited {status}:\n{stdout}{''.join(errors[-20:])}")
        usage = Path(usage_path).read_text()
    finally:
        os.unlink(usage_path)
    peak_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", usage).group(1))
    return Run(seconds, peak_kib / 1024, stdout)


def export_command(site_key: str, period: tuple[str, str], out: Path) -> list[str]:
    return [str(VENV_BIN / "flask"), "--app", "cmp_server", "cmp", "export", "--site", site_key,
            "--from", period[0], "--to", period[1], "--out", str(out)]


def floor_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.export_floor", *args]


def database_url(env: dict) -> str:
    return env.get("CMP_DATABASE_URL") or f"sqlite:///{env['CMP_INSTANCE_PATH']}/cmp.sqlite3"


def verify_command(bundle: Path) -> list[str]:
    return [sys.executable, "-m", "consent_logs", "verify", str(bundle), "--quiet"]


def export_progress(prefix: str) -> Callable[[str], None]:
    """Thin out the export's progress lines (one per 1000 records purged, one per 10 seals)."""
    def echo(line: str) -> None:
        found = re.match(r"(purge|seals): (\d+)/(\d+)$", line)
        if found is None:
            say(f"{prefix} {line}")
            return
        stage, done, total = found.group(1), int(found.group(2)), int(found.group(3))
        step = 100_000 if stage == "purge" else 20
        if done == total or done % step == 0:
            say(f"{prefix} export {stage}: {done:,}/{total:,}")
    return echo


# --- filling the ledger ------------------------------------------------------------------

def ledger_row(record: dict[str, Any], retention_months: int) -> dict[str, Any]:
    """The row Ledger.append inserts for ``record``: the ledger's own code."""
    from consent_logs.ledger import Ledger

    return Ledger.row(record, retention_months)


def retention(record: dict[str, Any], previous_retention: int) -> int:
    """cmp_server.receipts.retention_for, with the previous receipt's retention at hand."""
    months = max(record["vendor_retention_months"].values(), default=0)
    if record["state"] == "withdrawn" and record["previous_receipt_id"]:
        months = max(months, previous_retention)
    return months


def record_templates(site_key: str) -> dict[str, dict[str, Any]]:
    """Five receipts recorded for real, one per action, as the API would record them."""
    from cmp_server.sites.versions import published_content, published_ref
    from cmp_server.platform.geo import Region
    from cmp_server.consent.receipts import record_consent
    from cmp_server.sites.registry import get_site

    ref = published_ref(site_key)
    content = published_content(ref)
    optional = [p["id"] for p in content["purposes"] if not p["required"]]
    base = {"site": site_key, "config_version": ref.number, "language": "sv"}
    region = Region("SE")
    origin = get_site(site_key).origin_list[0]  # as the banner on the site's page sends it

    def record(**fields):
        return record_consent({**base, **fields}, region, origin)

    accepted = record(action="accept_all")
    return {
        "accept_all": accepted.receipt,
        "reject_all": record(action="reject_all").receipt,
        "custom": record(action="custom", purposes={optional[0]: True}).receipt,
        "gpc": record(action="gpc", gpc=True).receipt,
        "withdraw": record(action="withdraw", token=accepted.token).receipt,
    }


def check_rows_match_append(templates: dict[str, dict[str, Any]]) -> None:
    """ledger_row() must give exactly what Ledger.append stored for the real receipts."""
    from sqlalchemy import select

    from cmp_server.platform.extensions import db
    from cmp_server.models import LEDGER_TABLES

    table = LEDGER_TABLES.records
    stored = {row["receipt_id"]: row for row in db.session.connection().execute(
        select(*[table.c[name] for name in ledger_row(templates["accept_all"], 0)])
    ).mappings()}
    previous = stored[templates["accept_all"]["receipt_id"]]["retention_months"]
    for action, record in templates.items():
        row = stored[record["receipt_id"]]
        built = ledger_row(record, retention(record, previous))
        for name, value in built.items():
            have = row[name]
            if isinstance(value, datetime):  # SQLite hands datetimes back naive
                value = value.replace(tzinfo=None)
                have = have.replace(tzinfo=None)
            if have != value:
                raise RuntimeError(f"bench row differs from Ledger.append's ({action}, {name}): "
                                   f"{value!r} != {have!r}")


def months_between(issued: str, expires: str) -> int:
    from consent_logs.timeutil import parse_utc

    a, b = parse_utc(issued), parse_utc(expires)
    return (b.year - a.year) * 12 + b.month - a.month


def take(pool: list, rng: random.Random):
    """Remove and return a random element."""
    slot = rng.randrange(len(pool))
    chosen, pool[slot] = pool[slot], pool[-1]
    pool.pop()
    return chosen


def fake_receipts(templates: dict[str, dict[str, Any]], count: int, rng: random.Random):
    """``count`` (record, retention) pairs like the templates, issued over the past year in
    ledger order: new and returning visitors, withdrawals naming an earlier consent."""
    from consent_logs.timeutil import add_months, utc_iso

    lifetimes = {a: months_between(t["issued_at"], t["expires_at"]) for a, t in templates.items()}
    actions, weights = list(ACTIONS), list(ACTIONS.values())
    end = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    start = end - timedelta(days=365)
    step = (end - start).total_seconds() / max(count, 1)
    # visitors seen lately, as (subject, receipt id, retention): those who consented (the
    # ones who can withdraw) and the others
    consented: list[tuple[str, str, int]] = []
    others: list[tuple[str, str, int]] = []
    for i in range(count):
        issued = start + timedelta(seconds=int(i * step))
        action = rng.choices(actions, weights)[0]
        if action == "withdraw":
            pool = consented
        elif rng.random() < RETURNING:
            seen = len(consented) + len(others)
            pool = consented if seen and rng.randrange(seen) < len(consented) else others
        else:
            pool = None
        if pool:
            subject, previous_id, previous_retention = take(pool, rng)
        else:
            subject, previous_id, previous_retention = secrets.token_urlsafe(16), None, 0
            if action == "withdraw":  # nobody has consented yet
                action = "accept_all"
        template = templates[action]
        record = {
            **template,
            "receipt_id": str(uuid.uuid4()),
            "subject_id": subject,
            "issued_at": utc_iso(issued),
            "expires_at": utc_iso(add_months(issued, lifetimes[action])),
            "previous_receipt_id": previous_id,
            "language": rng.choice(LANGUAGES),
            "region": rng.choice(REGIONS),
        }
        months = retention(record, previous_retention)
        if record["state"] != "withdrawn":
            pool = consented if record["state"] == "given" else others
            pool.append((subject, record["receipt_id"], months))
            if len(pool) > 50_000:
                take(pool, rng)
        yield record, months


def purge_before_export(prefix: str) -> int:
    """--purge-first: run the retention purge before the export (cmp purge), so the export
    is timed on the bundle alone."""
    from cmp_server.consent import retention

    started = time.monotonic()
    removed = retention.purge().removed
    say(f"{prefix} purged {removed:,} expired records before the export "
        f"({time.monotonic() - started:.1f}s)")
    return removed


def analyze(prefix: str) -> None:
    """Planner statistics. PostgreSQL's autovacuum gathers them on its own within a minute
    or so of a bulk load; the bench does it at once so the timings do not depend on when
    autovacuum wakes up. SQLite never gathers them on its own: --analyze-sqlite only."""
    from cmp_server.platform.extensions import db

    started = time.monotonic()
    db.session.commit()
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    say(f"{prefix} ANALYZE ({time.monotonic() - started:.1f}s)")


def fill(env: dict, site_key: str, records: int, prefix: str, purge_first: bool,
         statistics: bool) -> tuple[float, float]:
    """Fill the ledger to ``records`` records and seal them all, in this process.
    Returns (fill records/s, seal records/s)."""
    from sqlalchemy import func, insert, select

    from cmp_server import create_app
    from cmp_server.platform.settings import from_environment
    from cmp_server.platform.extensions import db
    from cmp_server.models import LEDGER_TABLES
    from cmp_server.consent.sealing import seal_now

    instance = env["CMP_INSTANCE_PATH"]
    app = create_app(from_environment(instance, env), instance_path=instance)
    with app.app_context():
        templates = record_templates(site_key)
        check_rows_match_append(templates)
        db.session.commit()
        todo = records - len(templates)
        statement = insert(LEDGER_TABLES.records)
        rng = random.Random(records)
        started, batch, filled = time.monotonic(), [], len(templates)
        for record, months in fake_receipts(templates, todo, rng):
            batch.append(ledger_row(record, months))
            if (filled + len(batch)) % FILL_BATCH == 0 or filled + len(batch) == records:
                with db.engine.begin() as conn:
                    conn.execute(statement, batch)
                filled, batch = filled + len(batch), []
                if filled % FILL_PROGRESS == 0 or filled == records:
                    rate = (filled - len(templates)) / (time.monotonic() - started)
                    say(f"{prefix} filled {filled:,}/{records:,} records ({rate:,.0f}/s)")
        fill_rate = todo / (time.monotonic() - started)
        total = db.session.execute(select(func.count()).select_from(LEDGER_TABLES.records)).scalar_one()
        if total != records:
            raise RuntimeError(f"the ledger holds {total} records, expected {records}")
        if statistics:
            analyze(prefix)
        say(f"{prefix} sealing {records:,} records in batches of {SEAL_BATCH:,}")
        started = time.monotonic()
        seals = seal_now(batch_size=SEAL_BATCH)
        seconds = time.monotonic() - started
        sealed = sum(s.record_count for s in seals)
        if sealed != records:
            raise RuntimeError(f"sealed {sealed} records, expected {records}")
        say(f"{prefix} sealed {sealed:,} records in {len(seals)} seals, {seconds:.1f}s "
            f"({sealed / seconds:,.0f}/s)")
        if statistics:
            analyze(prefix)
        if purge_first:
            purge_before_export(prefix)
        db.session.remove()
        db.engine.dispose()
    return fill_rate, sealed / seconds


# --- one measurement ---------------------------------------------------------------------

def counts(export_out: str, verify_out: str) -> tuple[int, int]:
    exported = re.search(r"(\d+) records, (\d+) tombstones", export_out)
    verified = re.search(r"(\d+) records and (\d+) tombstones verified", verify_out)
    if not exported or not verified or "OK:" not in verify_out:
        raise RuntimeError(f"unexpected output:\n{export_out}\n{verify_out}")
    if exported.groups() != verified.groups():
        raise RuntimeError(f"exported {exported.groups()}, verified {verified.groups()}")
    return int(exported.group(1)), int(exported.group(2))


def database_copier(env: dict, workdir: Path, postgres: PostgresServer | None):
    """A function copying the database of ``env`` as it stands (nothing connected to it):
    the file on SQLite, a database made from it as a template on PostgreSQL."""
    def copy() -> tuple[str, Callable[[], None]]:
        if postgres is None:
            source = Path(env["CMP_INSTANCE_PATH"]) / "cmp.sqlite3"
            target = workdir / "untouched.sqlite3"
            for suffix in ("", "-wal"):
                if Path(f"{source}{suffix}").exists():
                    shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
            return f"sqlite:///{target}", lambda: [
                Path(f"{target}{suffix}").unlink(missing_ok=True) for suffix in ("", "-wal")]
        name = database_url(env).rsplit("/", 1)[1]
        postgres.execute(f"CREATE DATABASE {name}_untouched TEMPLATE {name}")
        return postgres.url(f"{name}_untouched"), lambda: postgres.execute(
            f"DROP DATABASE {name}_untouched WITH (FORCE)")
    return copy


def measure(engine: str, records: int, env: dict, workdir: Path, purge_first: bool,
            analyze_sqlite: bool, copy: Callable[[], tuple[str, Callable[[], None]]]) -> Result:
    """One engine and size; ``copy`` copies the database as it stands (its URL, and how to
    drop it), for the purge's floor."""
    prefix = f"[{engine} {records:,}]"
    say(f"{prefix} preparing a fresh database")
    flask_cli(env, "init")
    flask_cli(env, "import-vendors")
    site_key = flask_cli(env, "demo").strip().splitlines()[-1]

    empty = workdir / "empty.zip"
    say(f"{prefix} baselines: export and verification with no records")
    export_base = measured(export_command(site_key, EMPTY_PERIOD, empty), env)
    verify_base = measured(verify_command(empty), env)
    counts(export_base.stdout, verify_base.stdout)

    fill_rate, seal_rate = fill(env, site_key, records, prefix, purge_first,
                                 engine == "postgresql" or analyze_sqlite)
    floor = measured(floor_command("seal", database_url(env), str(SEAL_BATCH)), env)
    floor_count, floor_seconds = floor.stdout.split()
    seal_floor = int(floor_count) / float(floor_seconds)
    say(f"{prefix} seal floor: {seal_floor:,.0f} records/s (sealing {seal_rate:,.0f})")

    untouched, drop_copy = copy()  # the ledger before the export's purge
    bundle = workdir / "bundle.zip"
    say(f"{prefix} exporting (child process)")
    try:
        exported = measured(export_command(site_key, PERIOD, bundle), env,
                            export_progress(prefix))
    except RuntimeError as error:
        if "purge" in str(error) and not purge_first:
            say(f"{prefix} THE EXPORT FAILED IN ITS RETENTION PURGE (cmp_server.retention.purge); "
                "--purge-first removes the expired records beforehand to measure the rest")
        raise
    bundle_mib = bundle.stat().st_size / MiB
    say(f"{prefix} exported in {exported.seconds:.1f}s, peak {exported.peak_mib:.0f} MiB, "
        f"bundle {bundle_mib:.0f} MiB; verifying (child process)")
    verified = measured(verify_command(bundle), env)
    kept, tombstones = counts(exported.stdout, verified.stdout)
    if kept + tombstones != records:
        raise RuntimeError(f"bundle holds {kept} + {tombstones}, expected {records}")
    say(f"{prefix} verified in {verified.seconds:.1f}s, peak {verified.peak_mib:.0f} MiB")
    floor_zip = workdir / "floor.zip"
    export_floor = measured(floor_command("export", database_url(env), site_key,
                                          str(floor_zip)), env)
    verify_floor = measured(floor_command("verify", str(bundle)), env)
    if int(export_floor.stdout) != records or int(verify_floor.stdout) != records:
        raise RuntimeError(f"the floors read {export_floor.stdout.strip()} and "
                           f"{verify_floor.stdout.strip()} records, expected {records}")
    judge_floor = measured(floor_command("judge", untouched), env)
    purge_floor = measured(floor_command("purge", database_url(env), untouched), env)
    drop_copy()
    judged, judge_floor_seconds = judge_floor.stdout.split()
    floor_count, purge_floor_seconds = purge_floor.stdout.split()
    if int(floor_count) != tombstones:
        raise RuntimeError(f"the purge floor removed {floor_count}, the export {tombstones}")
    say(f"{prefix} floors: export {export_floor.seconds:.1f}s (its purge's judging of "
        f"{int(judged):,} candidates {float(judge_floor_seconds):.1f}s and writes "
        f"{float(purge_floor_seconds):.1f}s more), verify {verify_floor.seconds:.1f}s")
    floor_zip.unlink()
    # the same export again: its purge now removes nothing (what a scheduled `cmp purge`
    # leaves an export), so this is the bundle's own cost beside the floor
    again = measured(export_command(site_key, PERIOD, floor_zip), env)
    say(f"{prefix} exported again (nothing left to purge) in {again.seconds:.1f}s")
    floor_zip.unlink()
    bundle.unlink()
    return Result(engine, records, fill_rate, seal_rate, exported.seconds, exported.peak_mib,
                  export_base.peak_mib, tombstones, bundle_mib, verified.seconds,
                  verified.peak_mib, verify_base.peak_mib, seal_floor=seal_floor,
                  bundle_floor_seconds=export_floor.seconds,
                  purge_floor_seconds=float(purge_floor_seconds),
                  judge_floor_seconds=float(judge_floor_seconds),
                  verify_floor=records / verify_floor.seconds, again_seconds=again.seconds)


def table(results: list[Result]) -> str:
    lines = [
        "| engine | records | seal rec/s | floor | ratio | export rec/s | floor | ratio "
        "| export s | purged | judge floor s | purge floor s | again rec/s | floor | ratio "
        "| export peak MiB "
        "| export growth MiB "
        "| bundle MiB "
        "| verify rec/s | floor | ratio | verify s | verify peak MiB | verify growth MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        "---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.engine} | {r.records:,} | {r.seal_rate:,.0f} | {r.seal_floor:,.0f} | "
            f"{r.seal_floor / r.seal_rate:.1f} | {r.export_rate:,.0f} | {r.export_floor:,.0f} | "
            f"{r.export_floor / r.export_rate:.1f} | {r.export_seconds:.1f} | {r.purged:,} | "
            f"{r.judge_floor_seconds:.1f} | {r.purge_floor_seconds:.1f} | "
            f"{r.again_rate:,.0f} | {r.bundle_floor:,.0f} | "
            f"{r.bundle_floor / r.again_rate:.1f} | "
            f"{r.export_peak:.0f} | {r.export_peak - r.export_base:+.1f} | "
            f"{r.bundle_mib:.0f} | {r.verify_rate:,.0f} | {r.verify_floor:,.0f} | "
            f"{r.verify_floor / r.verify_rate:.1f} | {r.verify_seconds:.1f} | "
            f"{r.verify_peak:.0f} | {r.verify_peak - r.verify_base:+.1f} |")
    return "\n".join(lines)


def machine() -> str:
    model = ""
    try:
        found = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        model = f" ({found.group(1).strip()})" if found else ""
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs{model}, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000",
                        help="ledger sizes in records, comma-separated")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--purge-first", action="store_true",
                        help="remove expired records before the export instead of in it")
    parser.add_argument("--analyze-sqlite", action="store_true",
                        help="run ANALYZE on SQLite after filling and after sealing "
                             "(PostgreSQL is always analyzed, as autovacuum would)")
    args = parser.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",")]
    engines = args.engines.split(",")
    if any(size < 100 for size in sizes):
        parser.error("sizes must be at least 100 records")
    if any(engine not in ("sqlite", "postgresql") for engine in engines):
        parser.error("engines are sqlite and postgresql")
    workdir = Path(tempfile.mkdtemp(prefix="cmp-bench-export-"))
    base_env = {**os.environ, "CMP_SECRET_KEYS": "bench-secret-key"}
    base_env.pop("CMP_DATABASE_URL", None)
    results: list[Result] = []
    began = time.monotonic()
    try:
        for engine in engines:
            postgres = None
            if engine == "postgresql":
                say("[postgresql] starting a throw-away server (fsync on)")
                postgres = PostgresServer(durable=True).start()
                postgres.wait_ready()
            try:
                for size in sizes:
                    instance = workdir / f"instance-{engine}-{size}"
                    env = {**base_env, "CMP_INSTANCE_PATH": str(instance)}
                    if postgres:
                        name = f"cmp_export_{size}"
                        postgres.execute(f"CREATE DATABASE {name}")
                        env["CMP_DATABASE_URL"] = postgres.url(name)
                    started = time.monotonic()
                    results.append(measure(engine, size, env, workdir, args.purge_first,
                                           args.analyze_sqlite,
                                           database_copier(env, workdir, postgres)))
                    say(f"[{engine} {size:,}] done in {time.monotonic() - started:.0f}s")
                    if postgres:
                        postgres.execute(f"DROP DATABASE {name} WITH (FORCE)")
                    shutil.rmtree(instance, ignore_errors=True)
            finally:
                if postgres:
                    postgres.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    minutes = (time.monotonic() - began) / 60
    report = table(results)
    peak_tool = "/usr/bin/time -v" if GNU_TIME.exists() else "getrusage(RUSAGE_CHILDREN)"
    notes = [f"One site's records issued over a year, all sealed (seals of {SEAL_BATCH:,}) "
             f"before the export; PostgreSQL analyzed after filling and after sealing, as "
             f"autovacuum would"
             + (", SQLite too (--analyze-sqlite: it never does on its own)."
                if args.analyze_sqlite else ", SQLite not (it never does on its own).")]
    notes.append("Export: `flask --app cmp_server cmp export` over every record, including "
                 "the retention purge it runs first; purged = records replaced by tombstones"
                 + (" -- in this run (--purge-first) before the export, which still scanned "
                    "them all but removed none." if args.purge_first else " by the export."))
    notes.append("Verify: `python -m consent_logs verify --quiet`. Rates: records per wall "
                 "second of the whole command (process start included).")
    notes.append("Floors (bench/export_floor.py, same data, same run): seal = leaf hashes read "
                 "raw, each batch's Merkle root and member rows written (its own seconds); "
                 "export = its purge's judging (judge floor s: for every candidate old "
                 "enough to be past its retention, its times and its visitor's next record, "
                 "read raw in one query, the quicker of a look-up per candidate and a lead() "
                 "window, in a copy of the database taken before the export) plus its writes "
                 "(purge floor s: the same records replaced by tombstones in that copy, "
                 "set-based, one transaction, nothing judged) plus the bundle's floor (the site's rows read "
                 "raw, their bytes deflated into a zip by ISA-L at level 1, as the export "
                 "does); verify = the bundle's records inflated and each line hashed once. "
                 "Bundle and verify floors are child processes timed whole, like the steps. "
                 "Ratio = floor rate / step rate. Again = "
                 "the same export run a second time, when its purge finds nothing left to "
                 "remove (as after a scheduled `cmp purge`), beside the bundle's floor.")
    notes.append(f"Peak: maximum resident set size of the command ({peak_tool}); growth: "
                 f"peak minus the same command's with no records (export of an empty ledger, "
                 f"verification of that empty bundle).")
    header = (f"{machine()}, SQLite (WAL, synchronous=FULL) and PostgreSQL (fsync on), "
              f"{time.strftime('%Y-%m-%d')}, whole run {minutes:.0f} min\n\n"
              + "\n".join(f"- {note}" for note in notes))
    publish("export.md", header, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
