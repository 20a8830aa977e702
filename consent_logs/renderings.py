"""The renderings of a proof bundle's records, derived offline from a verified bundle:
each record as a Kantara Consent Receipt v1.1 document (``kantara.jsonl``, rendered with
the configuration the record names) and the records flattened for spreadsheets
(``records.csv``). ``python -m consent_logs render BUNDLE DIRECTORY`` writes both.

They are not stored in the bundle: they follow from the records and the configurations it
holds, and rendering a million records is most of what an export used to spend its time on.
"""
from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path
from typing import Any, Callable

from consent_logs import kantara
from consent_logs.bundle import Summary, record_entries, verify_bundle

CSV_COLUMNS = ("receipt_id", "subject_id", "issued_at", "expires_at", "action", "state",
               "config_version", "config_hash", "language", "region", "gpc",
               "collection_method", "previous_receipt_id", "granted_purposes",
               "granted_vendors", "longest_retention_months", "tc_string", "ac_string",
               "gpp_string")


def csv_row(record: dict[str, Any]) -> list[Any]:
    granted = lambda mapping: " ".join(sorted(k for k, v in mapping.items() if v))  # noqa: E731
    values = {**record,
              "granted_purposes": granted(record["purposes"]),
              "granted_vendors": granted(record["vendors"]),
              "longest_retention_months": max(record["vendor_retention_months"].values(), default=0),
              **{key: (record.get("tcf") or {}).get(key) for key in ("tc_string", "ac_string")},
              "gpp_string": (record.get("gpp") or {}).get("gpp_string")}
    return [values.get(column) for column in CSV_COLUMNS]


def render_bundle(path: str, directory: str,
                  progress: Callable[[int], None] | None = None) -> Summary:
    """Verify the bundle, then write ``kantara.jsonl`` and ``records.csv`` of its records
    (in bundle order; tombstones have none) into ``directory``. Raises VerificationError
    before writing anything if the bundle does not verify."""
    summary = verify_bundle(path)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path) as archive:
        notices = {(v["site"], v["number"]): v["content"]
                   for v in json.loads(archive.read("configs.json"))["versions"]}
        with archive.open("records.jsonl") as lines, \
                open(out / "kantara.jsonl", "w", encoding="utf-8") as receipts, \
                open(out / "records.csv", "w", newline="", encoding="utf-8") as table:
            writer = csv.writer(table)
            writer.writerow(CSV_COLUMNS)
            done = 0
            for entry in record_entries(lines):
                record = entry.whole().get("record")
                if record is None:
                    continue  # a tombstone
                notice = notices[(record["site"], record["config_version"])]
                receipts.write(json.dumps(kantara.render(record, notice), ensure_ascii=False,
                                          separators=(",", ":")) + "\n")
                writer.writerow(csv_row(record))
                done += 1
                if progress and done % 100_000 == 0:
                    progress(done)
    return summary
