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
from datetime import datetime, timezone
from json.encoder import encode_basestring as json_string  # ensure_ascii=False's
from typing import IO, Any, Callable, Iterator

from sqlalchemy import Connection, String, and_, exists, or_, select, type_coerce

from consent_logs.bundle import BUNDLE_FORMAT, COMPRESSION
from consent_logs.canonical import content_hash
from consent_logs.ledger import Ledger
from consent_logs.timeutil import stored_moment, utc_iso

Notice = Callable[[str, int], dict[str, Any]]
Progress = Callable[[int, int], None]
ROWS_PER_FETCH = 2_000
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


class BackgroundWriter:
    """Writes to ``out`` from a thread of its own, so deflating the records (zlib lets go
    of the interpreter while it works) runs on a second core while this one reads the next
    rows. At most a few blocks wait in between: memory stays flat."""

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

    def share(self, number: int) -> Iterator[list[tuple]]:
        """The site's members of one seal, in seal order, in batches of plain rows (the
        columns need no conversion)."""
        m, r, t = self.ledger.t.seal_members, self.ledger.t.records, self.ledger.t.tombstones
        result = self.conn.execute(
            select(m.c.position, r.c.data, r.c.leaf_hash,
                   type_coerce(r.c.issued_at, String), t.c.receipt_id, t.c.leaf_hash,
                   t.c.reason)
            .select_from(m.outerjoin(r, r.c.seq == m.c.record_seq)
                         .outerjoin(t, t.c.record_seq == m.c.record_seq))
            .where(m.c.seal_number == number,
                   or_(r.c.site == self.site, and_(r.c.seq.is_(None), t.c.site == self.site)))
            .order_by(m.c.position)
            .execution_options(yield_per=ROWS_PER_FETCH)
        )
        return result.partitions()

    def write(self, out: IO[bytes], start: datetime, end: datetime,
              extra: dict[str, Any]) -> dict[str, Any]:
        selected = self.seals_holding(start, end)
        last = selected[-1] if selected else 0
        with tempfile.TemporaryFile(prefix="cmp-bundle-seals-") as seals, \
                zipfile.ZipFile(out, "w", **COMPRESSION) as archive:
            with archive.open("records.jsonl", "w", force_zip64=True) as member, \
                    BackgroundWriter(member) as records:
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
            select(s.c.number, s.c.key_id, s.c.body, s.c.signature)
            .where(s.c.number <= last).order_by(s.c.number)
        ).all()  # seal headers only: a few hundred bytes each
        for row in rows:
            line = {"seal": row.number, "key_id": row.key_id, "body": row.body,
                    "signature": row.signature}
            if row.number in selected:
                line["site_leaves"] = self.write_share(row.number, records)
                self.counts["shares"] += 1
            seals.write(dumps(line))
            self.counts["seals"] += 1
            if self.progress:
                self.progress(self.counts["seals"], len(rows))

    def write_share(self, number: int, out: IO[bytes]) -> list[str]:
        leaves: list[str] = []
        versions: set[str] = set()
        issued: list[Any] = []
        records = tombstones = 0
        version_of = CONFIG_VERSION.search
        for rows in self.share(number):
            lines = []
            for position, data, leaf, issued_at, receipt_id, tomb_leaf, reason in rows:
                if data is not None:  # the record's stored bytes as they are: the
                    # verifier hashes exactly these
                    lines.append(b'{"seal":%d,"position":%d,"record":%s}\n'
                                 % (number, position, data.encode()))
                    leaves.append(leaf)
                    versions.add(version_of(data)[1])
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
        for number_text in versions:
            self.config_version(int(number_text))
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
