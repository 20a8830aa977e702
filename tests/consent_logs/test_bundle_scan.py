"""The verifier's records.jsonl in blocks (consent_logs.bundle: scan_block, ScannedBlocks,
RecordLines), on bundles built here from the library's primitives: large enough for
worker processes, tampered deep inside, failures found out of order by the workers and
reported in bundle order. No database, no Flask."""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest

from consent_logs import SigningKey, canonical_json, content_hash
from consent_logs import bundle as bundle_module
from consent_logs.bundle import BUNDLE_FORMAT, verify_bundle
from consent_logs.seals import VerificationError, record_leaf, seal_body

SITE, OTHER = "site-a", "site-b"
CONFIG = {"policy_url": "https://shop.example/privacy"}
SEALED_AT = datetime(2026, 1, 1, tzinfo=timezone.utc)


def receipt(number: int, site: str = SITE, **changes) -> dict:
    return {"site": site, "config_version": 1, "config_hash": content_hash(CONFIG),
            "receipt_id": f"r-{number:06d}", "state": "given", **changes}


@dataclass
class Bundle:
    """A bundle's members, built seal by seal as the export writes them."""

    key: SigningKey = field(default_factory=SigningKey.generate)
    seals: list[bytes] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)
    counts: dict = field(default_factory=lambda: {"records": 0, "tombstones": 0, "seals": 0,
                                                  "shares": 0, "configs": 1})
    previous_root: str | None = None

    def seal(self, entries: list[dict | str], other_site: int = 0) -> None:
        """A seal of these records (a str: a tombstone of that receipt id) and of
        ``other_site`` records of another site, which the bundle does not hold."""
        number = len(self.seals) + 1
        leaves, mine = [], []
        for position, entry in enumerate(entries):
            if isinstance(entry, str):
                leaf = record_leaf(entry.encode())
                self.lines.append(json.dumps({"seal": number, "position": position, "tombstone": {
                    "receipt_id": entry, "leaf_hash": leaf, "reason": "erased"}},
                    separators=(",", ":")).encode())
                self.counts["tombstones"] += 1
            else:
                data = canonical_json(entry)
                leaf = record_leaf(data)
                self.lines.append(b'{"seal":%d,"position":%d,"record":%s}' % (number, position, data))
                self.counts["records"] += 1
            leaves.append((SITE, leaf))
            mine.append(leaf)
        leaves += [(OTHER, record_leaf(b"other %d" % i)) for i in range(other_site)]
        body = seal_body(number, leaves, self.previous_root, SEALED_AT, self.key.key_id)
        text = canonical_json(body).decode()
        line = {"seal": number, "key_id": self.key.key_id, "body": text,
                "signature": self.key.sign(text.encode())}
        if mine:
            line["site_leaves"] = mine
            self.counts["shares"] += 1
        self.seals.append(json.dumps(line).encode())
        self.counts["seals"] += 1
        self.previous_root = body["root"]

    def write(self, path: Path, records: bytes | None = None) -> Path:
        manifest = {"format": BUNDLE_FORMAT, "site": SITE, "counts": self.counts}
        members = {
            "manifest.json": json.dumps(manifest).encode(),
            "keys.json": json.dumps({"keys": [self.key.public.as_json()]}).encode(),
            "seals.jsonl": b"".join(line + b"\n" for line in self.seals),
            "records.jsonl": b"".join(line + b"\n" for line in self.lines)
            if records is None else records,
            "configs.json": json.dumps({"versions": [{
                "site": SITE, "number": 1, "content_hash": content_hash(CONFIG),
                "content": CONFIG}]}).encode(),
            "retention.json": b"{}",
        }
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        return path


SEALS, PER_SEAL = 5, 5_000  # 25,000 records and tombstones: worker processes scan them


def large(**changes_at) -> Bundle:
    """Five seals of 5,000 entries, every tenth a tombstone; ``changes_at``: receipts
    sealed with a change (by receipt number: {"n123": {"config_hash": "sha256:0"}})."""
    bundle = Bundle()
    for seal in range(SEALS):
        entries = []
        for number in range(seal * PER_SEAL, (seal + 1) * PER_SEAL):
            changes = changes_at.get(f"n{number}", {})
            entries.append(f"r-{number:06d}" if number % 10 == 9 else receipt(number, **changes))
        bundle.seal(entries)
    return bundle


@pytest.fixture(params=["one process", "worker processes"])
def workers(request, monkeypatch):
    """The verifier on one core, and with worker processes on two; small blocks either
    way, so that a seal's share spans many blocks and lines span blocks."""
    monkeypatch.setattr(bundle_module, "CHUNK", 50_000)
    if request.param == "worker processes":
        monkeypatch.setattr(bundle_module.os, "cpu_count", lambda: 2)
    else:
        monkeypatch.setattr(bundle_module, "PARALLEL_FROM", 10**9)
    return request.param


def refused(path: Path) -> VerificationError:
    with pytest.raises(VerificationError) as caught:
        verify_bundle(str(path))
    return caught.value


def rewritten(bundle: Bundle, index: int, line: bytes) -> bytes:
    lines = list(bundle.lines)
    lines[index] = line
    return b"".join(line + b"\n" for line in lines)


def test_a_large_bundle_verifies_every_entry(workers, tmp_path):
    summary = verify_bundle(str(large().write(tmp_path / "b.zip")))
    assert (summary.records, summary.tombstones, summary.seals) == (22_500, 2_500, 5)


def test_a_record_changed_deep_in_a_large_bundle_is_named(workers, tmp_path):
    bundle = large()
    changed = bundle.lines[23_456].replace(b'"state":"given"', b'"state":"refused"')
    error = refused(bundle.write(tmp_path / "b.zip", rewritten(bundle, 23_456, changed)))
    assert error.where == "record r-023456 (seal 5, position 3456)"
    assert error.why == "does not match its sealed leaf: changed, or out of order"


def test_a_tombstone_changed_deep_in_a_large_bundle_is_named(workers, tmp_path):
    bundle = large()
    changed = bundle.lines[18_889].replace(b'"leaf_hash":"', b'"leaf_hash":"0')[:-2] + b'}}'
    error = refused(bundle.write(tmp_path / "b.zip", rewritten(bundle, 18_889, changed)))
    assert error.where == "record r-018889 (seal 4, position 3889)"
    assert "does not match its sealed leaf" in error.why


def test_a_sealed_record_that_fails_its_checks_is_named(workers, tmp_path):
    bundle = large(n21000={"config_hash": "sha256:0"})
    error = refused(bundle.write(tmp_path / "b.zip"))
    assert error.where == "record r-021000 (seal 5, position 1000)"
    assert error.why == "config_hash differs from the configuration shown"


def test_failures_are_reported_in_bundle_order(workers, tmp_path):
    """The first failure in the bundle is the one reported, whichever is found first: a
    sealed record failing its checks (found by a worker) before a changed one (found
    here), and a changed one before a sealed one failing."""
    bundle = large(n12000={"site": OTHER}, n24000={"config_hash": "sha256:0"})
    changed = bundle.lines[18_000].replace(b'"state":"given"', b'"state":"refused"')
    records = rewritten(bundle, 18_000, changed)
    error = refused(bundle.write(tmp_path / "b.zip", records))
    assert (error.where, error.why) == ("record r-012000 (seal 3, position 2000)",
                                        f"belongs to site {OTHER!r}")
    bundle = large(n24000={"config_hash": "sha256:0"})
    error = refused(bundle.write(tmp_path / "c.zip", rewritten(bundle, 18_000, changed)))
    assert error.where == "record r-018000 (seal 4, position 3000)"


def test_a_line_that_is_not_json_is_reported_after_a_failure_before_it(workers, tmp_path):
    bundle = large(n7000={"config_hash": "sha256:0"})
    error = refused(bundle.write(tmp_path / "b.zip", rewritten(bundle, 7_500, b"{not json")))
    assert error.where == "record r-007000 (seal 2, position 2000)"
    bundle = large()
    error = refused(bundle.write(tmp_path / "c.zip", rewritten(bundle, 7_500, b"{not json")))
    assert (error.where, error.why[:9]) == ("records.jsonl line 7501", "not JSON:")


def test_an_overlong_line_is_refused_by_its_number(workers, tmp_path, monkeypatch):
    """A line within a block, and one found too long before its end (over many blocks)."""
    monkeypatch.setattr(bundle_module, "MAX_LINE", 400_000)  # a seal's line is 340,000
    bundle = large()
    for data in (b"[" + b" " * 400_000 + b"]", b" " * 1_000_000):
        error = refused(bundle.write(tmp_path / "b.zip", rewritten(bundle, 9_000, data)))
        assert (error.where, error.why) == ("records.jsonl line 9001",
                                            "longer than 400000 bytes")


def test_blank_lines_and_a_last_line_without_its_newline_are_read(workers, tmp_path):
    bundle = large()
    records = (b"\n\n".join(bundle.lines[:5_000]) + b"\n" * 3_000_000
               + b"\n".join(bundle.lines[5_000:]))
    assert verify_bundle(str(bundle.write(tmp_path / "b.zip", records))).records == 22_500


def test_a_block_of_blank_lines_scans_to_its_kinds_alone():
    """A line's leaf and run are kept only for records and tombstones: a block of blank
    lines (a zip bomb of newlines) scans to no more than its own size."""
    scan = bundle_module.scan_block(SITE, {}, b"", b"\n" * 2**20, 2**20)
    assert (len(scan.kinds), scan.leaves, scan.runs, scan.failures) == (2**20, b"", [], {})


def test_a_record_as_the_first_format_wrote_it_is_re_encoded(workers, tmp_path):
    bundle = large()
    entry = json.loads(bundle.lines[16_000])
    rewritten_line = json.dumps(entry, indent=1).replace("\n", "").encode()
    records = rewritten(bundle, 16_000, rewritten_line)
    assert verify_bundle(str(bundle.write(tmp_path / "b.zip", records))).records == 22_500


def test_lines_claiming_a_seal_that_lists_none_of_the_sites_records_are_refused(workers,
                                                                                tmp_path):
    """A seal of other sites' records only, given an empty list of this site's leaves: a
    line claiming it is not taken as its share (where nothing would check it)."""
    bundle = Bundle()
    bundle.seal([receipt(0), receipt(1)])
    bundle.seal([], other_site=3)
    bundle.seal([receipt(2)])
    seal = json.loads(bundle.seals[1])
    bundle.seals[1] = json.dumps({**seal, "site_leaves": []}).encode()
    bundle.counts["shares"] += 1
    junk = receipt(99, state="anything")
    bundle.lines.insert(2, b'{"seal":2,"position":0,"record":%s}' % canonical_json(junk))
    error = refused(bundle.write(tmp_path / "b.zip"))
    assert error.where == "seal 3" and error.why.startswith("record 1 of 1 of this site is missing")
    bundle.lines.append(bundle.lines.pop(2))
    error = refused(bundle.write(tmp_path / "b.zip"))
    assert error.where == "record r-000099"
    assert error.why == "claims seal 2, which does not list this site's records"


def answers(path: Path, monkeypatch) -> list[tuple[str, str]]:
    """The failure reported with orjson, and with the standard library alone."""
    found = [refused(path)]
    with monkeypatch.context() as without:
        without.setattr(bundle_module, "orjson", None)
        found.append(refused(path))
    return [(error.where, error.why) for error in found]


def test_an_integer_beyond_64_bits_is_read_whole_with_orjson_too(workers, tmp_path,
                                                                 monkeypatch):
    """orjson reads 2**64 + 1 as the float 2**64: the verifier names what the standard
    library reads, in a seal's line and in a sealed record alike."""
    big = 2**64 + 1
    bundle = Bundle()
    bundle.seal([receipt(0), receipt(1, config_version=big)])
    assert answers(bundle.write(tmp_path / "b.zip"), monkeypatch) == [(
        "record r-000001 (seal 1, position 1)",
        f"configuration v{big} is not in the bundle")] * 2
    bundle = large()
    bundle.seals[1] = bundle.seals[1].replace(b'"seal": 2,', b'"seal": %d,' % big)
    assert answers(bundle.write(tmp_path / "c.zip"), monkeypatch) == [
        ("seal 2", f"missing (found seal {big})")] * 2
