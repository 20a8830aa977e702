"""Writing a proof bundle (format in consent_logs.bundle) from the ledger's tables.

Memory stays flat however many records: the database is read one seal at a time with a
streaming cursor, and the large members are spooled to temporary files before they go
into the zip, so the process holds one seal's share of records at most.
"""
from __future__ import annotations

import csv
import json
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Callable

from sqlalchemy import Connection, and_, or_, select

from consent_logs.bundle import BUNDLE_FORMAT
from consent_logs.canonical import content_hash
from consent_logs.ledger import Ledger
from consent_logs.seals import record_leaf
from consent_logs.timeutil import utc_iso

CSV_COLUMNS = ("receipt_id", "subject_id", "issued_at", "expires_at", "action", "state",
               "config_version", "config_hash", "language", "region", "gpc",
               "collection_method", "previous_receipt_id", "granted_purposes",
               "granted_vendors", "longest_retention_months")
Notice = Callable[[str, int], dict[str, Any]]
Render = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]
Progress = Callable[[int, int], None]


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def csv_row(record: dict[str, Any]) -> list[Any]:
    granted = lambda mapping: " ".join(sorted(k for k, v in mapping.items() if v))  # noqa: E731
    values = {**record,
              "granted_purposes": granted(record["purposes"]),
              "granted_vendors": granted(record["vendors"]),
              "longest_retention_months": max(record["vendor_retention_months"].values(), default=0)}
    return [values.get(column) for column in CSV_COLUMNS]


class BundleWriter:
    def __init__(self, ledger: Ledger, conn: Connection, site: str, notice: Notice,
                 render: Render, progress: Progress | None = None):
        self.ledger, self.conn, self.site = ledger, conn, site
        self.notice, self.render, self.progress = notice, render, progress
        self.versions: dict[int, dict[str, Any]] = {}
        self.counts = {"records": 0, "tombstones": 0, "seals": 0, "shares": 0}
        self.issued: list[str] = []  # earliest and latest issued_at included

    def seals_holding(self, start: datetime, end: datetime) -> list[int]:
        r, m = self.ledger.t.records, self.ledger.t.seal_members
        return list(self.conn.execute(
            select(m.c.seal_number).distinct()
            .join(r, r.c.seq == m.c.record_seq)
            .where(r.c.site == self.site, r.c.issued_at >= start, r.c.issued_at < end)
            .order_by(m.c.seal_number)
        ).scalars())

    def share(self, number: int):
        """The site's members of one seal, in seal order: records and tombstones."""
        m, r, t = self.ledger.t.seal_members, self.ledger.t.records, self.ledger.t.tombstones
        return self.conn.execute(
            select(m.c.position, r.c.data, t.c.receipt_id, t.c.leaf_hash, t.c.reason)
            .select_from(m.outerjoin(r, r.c.seq == m.c.record_seq)
                         .outerjoin(t, t.c.record_seq == m.c.record_seq))
            .where(m.c.seal_number == number,
                   or_(r.c.site == self.site, and_(r.c.seq.is_(None), t.c.site == self.site)))
            .order_by(m.c.position)
        ).all()

    def write(self, out: IO[bytes], start: datetime, end: datetime,
              extra: dict[str, Any]) -> dict[str, Any]:
        selected = self.seals_holding(start, end)
        last = selected[-1] if selected else 0
        with tempfile.TemporaryDirectory(prefix="cmp-bundle-") as tmp:
            spool = {name: open(Path(tmp, name), "w+b") for name in
                     ("seals.jsonl", "records.jsonl", "kantara.jsonl")}
            csv_file = open(Path(tmp, "records.csv"), "w+", newline="", encoding="utf-8")
            try:
                writer = csv.writer(csv_file)
                writer.writerow(CSV_COLUMNS)
                self.write_seals(last, set(selected), spool, writer)
                manifest = self.manifest(start, end, extra)
                with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
                    archive.writestr("manifest.json", dumps(manifest))
                    archive.writestr("keys.json", dumps(
                        {"keys": [k.as_json() for k in self.ledger.public_keys(self.conn)]}))
                    for name, handle in spool.items():
                        handle.close()
                        archive.write(handle.name, name)
                    csv_file.close()
                    archive.write(csv_file.name, "records.csv")
                    archive.writestr("configs.json", dumps({"versions": [
                        {"site": self.site, "number": number, "content_hash": digest,
                         "content": content}
                        for number, (digest, content) in sorted(self.versions.items())]}))
                    archive.writestr("retention.json", dumps(extra.get("retention", {})))
            finally:
                for handle in (*spool.values(), csv_file):
                    handle.close()
        return manifest

    def write_seals(self, last: int, selected: set[int], spool, writer) -> None:
        s = self.ledger.t.seals
        rows = self.conn.execute(
            select(s.c.number, s.c.key_id, s.c.body, s.c.signature)
            .where(s.c.number <= last).order_by(s.c.number)
        ).all()  # seal headers only: a few hundred bytes each
        for row in rows:
            line = {"seal": row.number, "key_id": row.key_id, "body": row.body,
                    "signature": row.signature}
            if row.number in selected:
                line["site_leaves"] = self.write_share(row.number, spool, writer)
                self.counts["shares"] += 1
            spool["seals.jsonl"].write(dumps(line))
            self.counts["seals"] += 1
            if self.progress:
                self.progress(self.counts["seals"], len(rows))

    def write_share(self, number: int, spool, writer) -> list[str]:
        leaves = []
        for member in self.share(number):
            entry: dict[str, Any] = {"seal": number, "position": member.position}
            if member.data is not None:
                record = json.loads(member.data)
                entry["record"] = record
                leaves.append(record_leaf(member.data.encode("utf-8")))
                self.write_record(record, spool, writer)
            else:
                entry["tombstone"] = {"receipt_id": member.receipt_id,
                                      "leaf_hash": member.leaf_hash, "reason": member.reason}
                leaves.append(member.leaf_hash)
                self.counts["tombstones"] += 1
            spool["records.jsonl"].write(dumps(entry))
        return leaves

    def write_record(self, record: dict[str, Any], spool, writer) -> None:
        number = record["config_version"]
        if number not in self.versions:
            content = self.notice(self.site, number)
            self.versions[number] = (content_hash(content), content)
        spool["kantara.jsonl"].write(dumps(self.render(record, self.versions[number][1])))
        writer.writerow(csv_row(record))
        self.counts["records"] += 1
        issued = record["issued_at"]
        self.issued = [min(self.issued[0], issued), max(self.issued[1], issued)] if self.issued \
            else [issued, issued]

    def manifest(self, start: datetime, end: datetime, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "format": BUNDLE_FORMAT,
            "site": self.site,
            "created_at": utc_iso(datetime.now(timezone.utc)),
            "requested_period": {"from": utc_iso(start), "to": utc_iso(end)},
            "covered_issued_at": {"first": self.issued[0], "last": self.issued[1]}
            if self.issued else None,
            "counts": {**self.counts, "configs": len(self.versions)},
            "verify_with": "python -m consent_logs verify THIS_FILE",
            **{k: v for k, v in extra.items() if k != "retention"},
        }


def write_bundle(out: IO[bytes], ledger: Ledger, conn: Connection, site: str,
                 start: datetime, end: datetime, notice: Notice, render: Render,
                 extra: dict[str, Any] | None = None,
                 progress: Progress | None = None) -> dict[str, Any]:
    """Write the site's proof bundle for records issued in [start, end) to ``out``;
    returns the manifest."""
    return BundleWriter(ledger, conn, site, notice, render, progress).write(
        out, start, end, extra or {})
