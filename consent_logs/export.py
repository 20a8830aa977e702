"""Writing a proof bundle (format in consent_logs.bundle) from the ledger's tables.

Fast and flat however many records: the database is read one seal's share at a time, in
large batches of plain rows, and each record's stored canonical bytes go into
``records.jsonl`` as they are (never parsed, never re-encoded), streamed straight into the
zip with the fastest deflate level. The process holds one batch of rows at most. The
Kantara documents and the CSV are derived from the records, so they are not stored: the
auditor's ``python -m consent_logs render`` writes them from a verified bundle.
"""
from __future__ import annotations

import json
import queue
import re
import shutil
import tempfile
import threading
import zipfile
from contextlib import closing
from datetime import datetime, timezone
from itertools import groupby
from json.encoder import encode_basestring as json_string  # ensure_ascii=False's
from operator import itemgetter
from typing import IO, Any, Callable, Iterator

from isal import isal_zlib
from sqlalchemy import Connection, String, and_, exists, func, or_, select, type_coerce

from consent_logs.bundle import BUNDLE_FORMAT, COMPRESSION
from consent_logs.canonical import content_hash
from consent_logs.ledger import Ledger, driver_batches
from consent_logs.read_ahead import read_ahead
from consent_logs.timeutil import stored_moment, utc_iso

Notice = Callable[[str, int], dict[str, Any]]
Progress = Callable[[int, int], None]
ROWS_PER_FETCH = 2_000
ISAL_LEVEL = 1  # of 0-3
# The shares are read by one query per run of seals holding at most this many members and
# this many seals: a query open on SQLite keeps its WAL from being checkpointed (consent
# POSTs pile up in it meanwhile), and a query takes only so many parameters.
MEMBERS_PER_QUERY = 200_000
SEALS_PER_QUERY = 1_000
# PostgreSQL, for the export's transaction: no parallel workers (a worker takes the core
# that deflates the bundle and writes its lines).
POSTGRESQL_SETTING = "SET LOCAL max_parallel_workers_per_gather = 0"
# A record's configuration version, read from its canonical bytes without parsing them:
# keys are sorted and none before "config_version" holds an object, so the first match is
# the record's own. (Were that ever to change, the verifier would say which configuration
# the bundle lacks: a bundle cannot come out wrong and still verify.)
CONFIG_VERSION = re.compile(r'"config_version":(\d+)')


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def tombstone_line(seal: int, position: int, receipt_id: str, leaf_hash: str,
                   reason: str) -> bytes:
    """A records.jsonl line for a record replaced by its tombstone (what ``dumps`` would
    write, without building a dict for each of hundreds of thousands)."""
    return ('{"seal":%d,"position":%d,"tombstone":{"receipt_id":%s,"leaf_hash":%s,'
            '"reason":%s}}\n' % (seal, position, json_string(receipt_id),
                                 json_string(leaf_hash), json_string(reason))).encode("utf-8")


def deflating_with_isal(member: IO[bytes]) -> IO[bytes]:
    """The zip member ``member``, opened for writing, deflating with ISA-L instead of
    zlib: about five times as fast at its level 1 as zlib at its level 1, and a smaller
    result (bench/README.md, Proof bundles). The stream is plain deflate, which every
    unzip reads. zipfile has no public hook for its compressor, so the one it made is
    replaced, before the first byte (once one went in, or should those attributes ever
    change, zlib's is kept)."""
    if getattr(member, "_file_size", None) == 0 and getattr(member, "_compressor", None):
        member._compressor = isal_zlib.compressobj(ISAL_LEVEL, isal_zlib.DEFLATED, -15)
    return member


class BackgroundWriter:
    """Writes to ``out`` from a thread of its own, so deflating the records (the
    compressor lets go of the interpreter while it works) runs on a second core while
    this one reads the next rows. At most a few blocks wait in between: memory stays
    flat."""

    def __init__(self, out: IO[bytes], waiting: int = 4):
        self.out = out
        self.blocks: queue.Queue = queue.Queue(waiting)
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="bundle-writer", daemon=True)

    def _run(self) -> None:
        while (block := self.blocks.get()) is not None:
            if self.failure is None:
                try:
                    self.out.write(block)
                except BaseException as failure:  # told to the writing thread
                    self.failure = failure

    def write(self, block: bytes) -> None:
        if self.failure is not None:
            raise self.failure
        self.blocks.put(block)

    def __enter__(self) -> "BackgroundWriter":
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.blocks.put(None)
        self.thread.join()
        if self.failure is not None:
            raise self.failure


def query_groups(seals: list[tuple[int, int]]) -> Iterator[list[int]]:
    """The numbers of ``seals`` (number, record count; ascending) in runs read by one query
    each: at most MEMBERS_PER_QUERY members and SEALS_PER_QUERY seals a run (a seal larger
    than that alone)."""
    group: list[int] = []
    members = 0
    for number, count in seals:
        if group and (members + count > MEMBERS_PER_QUERY or len(group) == SEALS_PER_QUERY):
            yield group
            group, members = [], 0
        group.append(number)
        members += count
    if group:
        yield group


def by_seal(batches: Iterator[list[tuple]], numbers: list[int]
            ) -> Iterator[tuple[int, list[tuple] | None]]:
    """Batches of rows led by their seal number, in the order of the seals ``numbers``, as
    (seal number, its rows in this batch) and (seal number, None) where its rows end; a
    seal without rows has just its end."""
    waiting = iter(numbers)  # the seals whose rows have not begun
    current = None
    for rows in batches:
        for number, share in groupby(rows, key=itemgetter(0)):
            if number != current:
                if current is not None:
                    yield current, None
                for skipped in waiting:
                    if skipped == number:
                        break
                    yield skipped, None
                else:
                    raise RuntimeError(f"rows of seal {number} out of seal order")
                current = number
            yield number, list(share)
    if current is not None:
        yield current, None
    for skipped in waiting:
        yield skipped, None


class BundleWriter:
    def __init__(self, ledger: Ledger, conn: Connection, site: str, notice: Notice,
                 progress: Progress | None = None):
        self.ledger, self.conn, self.site = ledger, conn, site
        self.notice, self.progress = notice, progress
        self.versions: dict[int, tuple[str, dict[str, Any]]] = {}
        self.counts = {"records": 0, "tombstones": 0, "seals": 0, "shares": 0}
        self.issued: list[Any] = []  # earliest and latest issued_at included

    def seals_holding(self, start: datetime, end: datetime) -> list[int]:
        """The seals holding a record of the site issued in [start, end): each seal is
        looked into until its first such record, not read whole."""
        r, m, s = self.ledger.t.records, self.ledger.t.seal_members, self.ledger.t.seals
        return list(self.conn.execute(
            select(s.c.number)
            .where(exists().where(m.c.seal_number == s.c.number, r.c.seq == m.c.record_seq,
                                  r.c.site == self.site, r.c.issued_at >= start,
                                  r.c.issued_at < end))
            .order_by(s.c.number)
        ).scalars())

    def share_query(self, members, seqs: tuple[int, int] | None = None):
        """The site's rows among the seal members ``members`` (a condition): seal number,
        position, the record's stored bytes, leaf hash and issued_at, or the tombstone's
        receipt id, leaf hash and reason. ``seqs``, the lowest and highest sequence number
        among the members, bounds each table's part read."""
        m, r, t = self.ledger.t.seal_members, self.ledger.t.records, self.ledger.t.tombstones
        joined_record = r.c.seq == m.c.record_seq
        joined_tombstone = t.c.record_seq == m.c.record_seq
        if seqs is not None:
            members &= m.c.record_seq.between(*seqs)
            joined_record &= r.c.seq.between(*seqs)
            joined_tombstone &= t.c.record_seq.between(*seqs)
        return (
            select(m.c.seal_number, m.c.position, r.c.data, r.c.leaf_hash,
                   type_coerce(r.c.issued_at, String), t.c.receipt_id, t.c.leaf_hash,
                   t.c.reason)
            .select_from(m.outerjoin(r, joined_record).outerjoin(t, joined_tombstone))
            .where(members,
                   or_(r.c.site == self.site, and_(r.c.seq.is_(None), t.c.site == self.site))))

    def ledger_range(self, numbers: list[int]) -> tuple[int, int] | None:
        """The lowest and highest sequence number among the members of the seals
        ``numbers``, if those members in seal and position order are in ledger order too
        (as they are unless an earlier version sealed a slow writer's record after later
        ones); None if not."""
        m = self.ledger.t.seal_members
        members = select(
            m.c.record_seq,
            func.lag(m.c.record_seq).over(order_by=(m.c.seal_number, m.c.position))
            .label("previous"),
        ).where(m.c.seal_number.in_(numbers)).subquery()
        behind, lowest, highest = self.conn.execute(select(
            func.count().filter(members.c.previous > members.c.record_seq),
            func.min(members.c.record_seq), func.max(members.c.record_seq))).one()
        return (lowest, highest) if behind == 0 and lowest is not None else None

    def shares(self, numbers: list[int]) -> Iterator[tuple[int, list[tuple] | None]]:
        """The shares of the seals ``numbers`` (ascending; a run of query_groups), in that
        order: (seal number, a batch of rows) for each batch, then (seal number, None)
        where the seal's share ends.

        SQLite: one query in seal and position order (it follows the members' own index
        and looks each record up by its rowid, which costs it little). PostgreSQL: when
        the members are in ledger order too (see ledger_range), one query in ledger order,
        the same order: the members, records and tombstones are then merged as ranges,
        nothing sorted and nothing looked up one by one (a query per seal, sorting its
        share, cost twice the floor's reading); otherwise a query per seal, as it would
        sort every share at once."""
        if not numbers:
            return
        m = self.ledger.t.seal_members
        members = m.c.seal_number.in_(numbers)
        if self.conn.dialect.name == "sqlite":
            query = self.share_query(members).order_by(m.c.seal_number, m.c.position)
        elif seqs := self.ledger_range(numbers):
            query = self.share_query(members, seqs).order_by(m.c.record_seq)
        else:
            for number in numbers:
                query = self.share_query(m.c.seal_number == number).order_by(m.c.position)
                for rows in driver_batches(self.conn, query, ROWS_PER_FETCH):
                    yield number, rows
                yield number, None
            return
        yield from by_seal(driver_batches(self.conn, query, ROWS_PER_FETCH), numbers)

    def write(self, out: IO[bytes], start: datetime, end: datetime,
              extra: dict[str, Any]) -> dict[str, Any]:
        if self.conn.dialect.name == "postgresql":
            self.conn.exec_driver_sql(POSTGRESQL_SETTING)
        selected = self.seals_holding(start, end)
        last = selected[-1] if selected else 0
        with tempfile.TemporaryFile(prefix="cmp-bundle-seals-") as seals, \
                zipfile.ZipFile(out, "w", **COMPRESSION) as archive:
            with archive.open("records.jsonl", "w", force_zip64=True) as member, \
                    BackgroundWriter(deflating_with_isal(member)) as records:
                self.write_seals(last, set(selected), seals, records)
            seals.seek(0)
            with archive.open("seals.jsonl", "w", force_zip64=True) as member:
                shutil.copyfileobj(seals, member, 2**20)
            manifest = self.manifest(start, end, extra)
            archive.writestr("manifest.json", dumps(manifest))
            archive.writestr("keys.json", dumps(
                {"keys": [k.as_json() for k in self.ledger.public_keys(self.conn)]}))
            archive.writestr("configs.json", dumps({"versions": [
                {"site": self.site, "number": number, "content_hash": digest,
                 "content": content}
                for number, (digest, content) in sorted(self.versions.items())]}))
            archive.writestr("retention.json", dumps(extra.get("retention", {})))
        return manifest

    def write_seals(self, last: int, selected: set[int], seals: IO[bytes],
                    records: IO[bytes]) -> None:
        s = self.ledger.t.seals
        rows = self.conn.execute(
            select(s.c.number, s.c.key_id, s.c.body, s.c.signature, s.c.record_count)
            .where(s.c.number <= last).order_by(s.c.number)
        ).all()  # seal headers only: a few hundred bytes each
        versions: set[int] = set()
        groups = query_groups([(row.number, row.record_count) for row in rows
                               if row.number in selected])
        # the shares are read on a thread of their own while this one writes them: the
        # connection is the reading thread's until every share is read
        with closing(read_ahead(share for numbers in groups
                                for share in self.shares(numbers))) as shares:
            for row in rows:
                line = {"seal": row.number, "key_id": row.key_id, "body": row.body,
                        "signature": row.signature}
                if row.number in selected:
                    line["site_leaves"] = self.write_share(row.number, shares, records,
                                                           versions)
                    self.counts["shares"] += 1
                seals.write(dumps(line))
                self.counts["seals"] += 1
                if self.progress:
                    self.progress(self.counts["seals"], len(rows))
        for number in sorted(versions):
            self.config_version(number)

    def write_share(self, number: int, shares: Iterator[tuple[int, list[tuple] | None]],
                    out: IO[bytes], versions: set[int]) -> list[str]:
        """Write the seal's share, the next one ``shares`` holds, as lines; returns its
        leaves and adds the configuration versions its records name to ``versions``."""
        leaves: list[str] = []
        named: set[str] = set()
        issued: list[Any] = []
        records = tombstones = 0
        version_of = CONFIG_VERSION.search
        for share, rows in shares:
            if share != number:
                raise RuntimeError(f"seal {number}'s share expected, seal {share}'s read")
            if rows is None:
                break
            lines = []
            for _, position, data, leaf, issued_at, receipt_id, tomb_leaf, reason in rows:
                if data is not None:  # the record's stored bytes as they are: the
                    # verifier hashes exactly these
                    lines.append(b'{"seal":%d,"position":%d,"record":%s}\n'
                                 % (number, position, data.encode()))
                    leaves.append(leaf)
                    named.add(version_of(data)[1])
                    issued.append(issued_at)
                else:
                    lines.append(tombstone_line(number, position, receipt_id, tomb_leaf, reason))
                    leaves.append(tomb_leaf)
                    tombstones += 1
            records += len(issued)
            out.write(b"".join(lines))
            if issued:
                bounds = [min(issued), max(issued), *self.issued]
                self.issued = [min(bounds), max(bounds)]
                issued = []
        versions.update(map(int, named))
        self.counts["records"] += records
        self.counts["tombstones"] += tombstones
        return leaves

    def config_version(self, number: int) -> None:
        if number not in self.versions:
            content = self.notice(self.site, number)
            self.versions[number] = (content_hash(content), content)

    def manifest(self, start: datetime, end: datetime, extra: dict[str, Any]) -> dict[str, Any]:
        first, last = (utc_iso(stored_moment(value)) for value in self.issued) if self.issued \
            else (None, None)
        return {
            "format": BUNDLE_FORMAT,
            "site": self.site,
            "created_at": utc_iso(datetime.now(timezone.utc)),
            "requested_period": {"from": utc_iso(start), "to": utc_iso(end)},
            "covered_issued_at": {"first": first, "last": last} if self.issued else None,
            "counts": {**self.counts, "configs": len(self.versions)},
            "verify_with": "python -m consent_logs verify THIS_FILE",
            "renderings_with": "python -m consent_logs render THIS_FILE DIRECTORY "
                               "(Kantara receipts and CSV)",
            **{k: v for k, v in extra.items() if k != "retention"},
        }


def write_bundle(out: IO[bytes], ledger: Ledger, conn: Connection, site: str,
                 start: datetime, end: datetime, notice: Notice,
                 extra: dict[str, Any] | None = None,
                 progress: Progress | None = None) -> dict[str, Any]:
    """Write the site's proof bundle for records issued in [start, end) to ``out``;
    returns the manifest."""
    return BundleWriter(ledger, conn, site, notice, progress).write(out, start, end, extra or {})
