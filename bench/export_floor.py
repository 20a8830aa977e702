"""The floors `python -m bench.export` sets beside its figures: the least work each step
must do on this machine, done with nothing but the database driver, hashlib, zipfile and
isal (the deflate the export uses), in a child process of its own (so process start
counts, as it does for the steps).

    export DATABASE SITE OUT   the site's stored records (and tombstones' leaf hashes), read
                               raw in large batches in ledger order, their bytes written as
                               lines into a zip member (deflated by ISA-L at its level 1,
                               as the export deflates): nothing parsed, nothing rendered
    verify BUNDLE              the bundle's records.jsonl inflated and each line hashed
                               once with SHA-256: nothing parsed, no signature checked
    purge DONE COPY            the purge's writes alone: the records that DONE (the database
                               after a real purge) holds tombstones for are replaced by
                               tombstones in COPY (the same database before that purge), set-
                               based, in one transaction: a temporary table of their sequence
                               numbers and reasons, one INSERT ... SELECT, one DELETE, one
                               commit; nothing judged, no batches; prints its own seconds
    judge DATABASE             the purge's judging alone: for every sealed record old
                               enough to be past its retention (the purge's own candidate
                               condition), its state, times and retention and the
                               visitor's next record's issue time, read raw; the quicker
                               of two queries: a look-up of the next record per candidate
                               (what the purge asks) and one lead() window over the whole
                               ledger; nothing decided; prints its own seconds
    seal DATABASE BATCH        every record's leaf hash read raw in ledger order; per batch
                               the Merkle root computed and one row per record inserted
                               into a temporary table (what a seal writes; COPY on
                               PostgreSQL), one transaction per batch; prints its own
                               seconds

DATABASE is the SQLAlchemy URL the app uses (sqlite:///… or postgresql+psycopg://…).
Prints the number of records handled (and, for seal, the seconds its work took).
"""
from __future__ import annotations

import hashlib
import sys
import time
import zipfile

from isal import isal_zlib

FETCH = 10_000


def connect(url: str):
    if url.startswith("sqlite:///"):
        import sqlite3

        return sqlite3.connect(url[len("sqlite:///"):]), "?"
    import psycopg

    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")), "%s"


def batches(cursor):
    while rows := cursor.fetchmany(FETCH):
        yield rows


def export_floor(url: str, site: str, out: str) -> int:
    conn, mark = connect(url)
    cursor = conn.cursor(name="floor") if mark == "%s" else conn.cursor()
    cursor.execute(f"SELECT data FROM consent_records WHERE site = {mark} ORDER BY seq", (site,))
    count = 0
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive, \
            archive.open("records.jsonl", "w", force_zip64=True) as member:
        # the export's compressor (consent_logs.export.deflating_with_isal)
        member._compressor = isal_zlib.compressobj(1, isal_zlib.DEFLATED, -15)
        for rows in batches(cursor):
            member.write("\n".join(row[0] for row in rows).encode() + b"\n")
            count += len(rows)
        cursor = conn.cursor()
        cursor.execute(f"SELECT leaf_hash FROM ledger_tombstones WHERE site = {mark} "
                       "ORDER BY record_seq", (site,))
        for rows in batches(cursor):
            member.write("\n".join(row[0] for row in rows).encode() + b"\n")
            count += len(rows)
    conn.close()
    return count


def verify_floor(bundle: str) -> int:
    count, tail = 0, b""
    sha256 = hashlib.sha256
    with zipfile.ZipFile(bundle) as archive, archive.open("records.jsonl") as member:
        while block := member.read(2**20):
            lines = (tail + block).split(b"\n")
            tail = lines.pop()
            for line in lines:
                sha256(line).digest()
            count += len(lines)
    return count + bool(tail)


def purge_floor(done: str, copy: str) -> tuple[int, float]:
    conn, mark = connect(done)
    removals = conn.execute("SELECT record_seq, reason FROM ledger_tombstones").fetchall()
    conn.close()
    started = time.monotonic()
    conn, mark = connect(copy)
    cursor = conn.cursor()
    temporary = "TEMPORARY" if mark == "%s" else "TEMP"
    cursor.execute(f"CREATE {temporary} TABLE floor_removals (seq BIGINT PRIMARY KEY, "
                   "reason TEXT)")
    if mark == "%s":
        with cursor.copy("COPY floor_removals FROM STDIN") as copy_in:
            for row in removals:
                copy_in.write_row(row)
    else:
        cursor.executemany("INSERT INTO floor_removals VALUES (?, ?)", removals)
    cursor.execute(
        "INSERT INTO ledger_tombstones (record_seq, receipt_id, site, leaf_hash, reason, "
        f"removed_at) SELECT r.seq, r.receipt_id, r.site, r.leaf_hash, f.reason, {mark} "
        "FROM floor_removals f JOIN consent_records r ON r.seq = f.seq",
        (time.strftime("%Y-%m-%d %H:%M:%S"),))
    cursor.execute("DELETE FROM consent_records WHERE seq IN (SELECT seq FROM floor_removals)")
    conn.commit()
    conn.close()
    return len(removals), time.monotonic() - started


def judge_floor(url: str) -> tuple[int, float]:
    from datetime import datetime, timedelta, timezone

    from consent_logs.timeutil import add_months

    conn, mark = connect(url)
    cursor = conn.cursor()
    cursor.execute("SELECT DISTINCT retention_months FROM consent_records")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    # the purge's candidates: issued at most ``months`` (plus a few days) before now
    terms, cutoffs = [], []
    for (months,) in cursor.fetchall():
        terms.append(f"r.retention_months = {int(months)} AND r.issued_at <= {mark}")
        cutoffs.append(str(add_months(now, -months) + timedelta(days=4))
                       + ("+00" if mark == "%s" else ""))
    candidate = " OR ".join(terms) or "false"
    columns = "r.seq, r.state, r.issued_at, r.expires_at, r.retention_months"

    def sealed(row: str) -> str:
        return f"EXISTS (SELECT 1 FROM ledger_seal_members m WHERE m.record_seq = {row}.seq)"

    # partitions by the bytes of site and subject: equality is the same in any
    # deterministic collation, and PostgreSQL's own sorts several times quicker
    bytewise = ' COLLATE "C"' if mark == "%s" else ""
    queries = [
        f"SELECT {columns}, (SELECT n.issued_at FROM consent_records n WHERE n.site = r.site "
        "AND n.subject_id = r.subject_id AND n.seq > r.seq ORDER BY n.seq LIMIT 1) "
        f"FROM consent_records r WHERE ({candidate}) AND {sealed('r')}",
        f"SELECT * FROM (SELECT {columns}, lead(r.issued_at) OVER (PARTITION BY r.site, "
        f"r.subject_id{bytewise} ORDER BY r.seq), ({candidate}) AS candidate "
        f"FROM consent_records r) x WHERE candidate AND {sealed('x')}",
    ]
    fastest, count = float("inf"), 0
    for query in queries:
        started = time.monotonic()
        # a client-side cursor: PostgreSQL may then spread the query over both cores
        reader = conn.cursor()
        reader.execute(query, cutoffs)
        count = sum(len(rows) for rows in batches(reader))
        reader.close()
        conn.rollback()
        fastest = min(fastest, time.monotonic() - started)
        print(f"{time.monotonic() - started:.3f}", file=sys.stderr)
    conn.close()
    return count, fastest


def seal_floor(url: str, batch: int) -> tuple[int, float]:
    from consent_logs.merkle import merkle_root

    started = time.monotonic()
    conn, mark = connect(url)
    reader = conn.cursor(name="floor") if mark == "%s" else conn.cursor()
    writer = connect(url)[0].cursor()
    temporary = "TEMPORARY" if mark == "%s" else "TEMP"
    writer.execute(f"CREATE {temporary} TABLE floor_members (seal INTEGER, position INTEGER, "
                   "record_seq BIGINT)")
    reader.execute("SELECT seq, site, leaf_hash FROM consent_records ORDER BY seq")
    count, number, pending = 0, 0, []
    insert = f"INSERT INTO floor_members VALUES ({mark}, {mark}, {mark})"

    def flush():
        nonlocal number
        number += 1
        merkle_root([bytes.fromhex(leaf) for _, _, leaf in pending])
        members = [(number, i, row[0]) for i, row in enumerate(pending)]
        if mark == "%s":  # PostgreSQL: COPY, its fastest way in
            with writer.copy("COPY floor_members FROM STDIN") as copy:
                for member in members:
                    copy.write_row(member)
        else:
            writer.executemany(insert, members)
        writer.connection.commit()

    for rows in batches(reader):
        for row in rows:
            pending.append(row)
            if len(pending) == batch:
                flush()
                pending = []
        count += len(rows)
    if pending:
        flush()
    return count, time.monotonic() - started


def main(argv: list[str]) -> int:
    step, *args = argv
    if step == "export":
        print(export_floor(*args))
    elif step == "verify":
        print(verify_floor(*args))
    elif step == "purge":
        count, seconds = purge_floor(*args)
        print(count, f"{seconds:.3f}")
    elif step == "judge":
        count, seconds = judge_floor(args[0])
        print(count, f"{seconds:.3f}")
    elif step == "seal":
        count, seconds = seal_floor(args[0], int(args[1]))
        print(count, f"{seconds:.3f}")
    else:
        raise SystemExit(f"unknown step {step!r}: export, verify, purge, judge or seal")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
