"""Proof bundles: exported by the CLI, verified offline by `python -m consent_logs verify`
with no Flask and no database library, and every kind of tampering caught."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from cmp_server.sites import versions
from cmp_server.consent.receipts import record_consent
from cmp_server.consent.sealing import seal_now
from cmp_server.sites.registry import create_site
from consent_logs.bundle import verify_bundle
from consent_logs.seals import VerificationError
from tests.conftest import SHOP

OFFLINE = ("import sys, runpy; sys.modules['flask'] = None; sys.modules['sqlalchemy'] = None; "
           "sys.argv = ['consent_logs', 'verify', *sys.argv[1:]]; "
           "runpy.run_module('consent_logs', run_name='__main__')")


@pytest.fixture
def two_sites(shop):
    """Consents for the shop and for another site, interleaved, sealed in small batches."""
    site, version = shop
    other = create_site({**SHOP, "name": "Other"})
    versions.set_draft_vendors(other, [("mixpanel", None)])
    other_version, _ = versions.publish(other)
    actions = ["accept_all", "reject_all", "custom"]
    for index in range(24):
        target, number = (site, version.number) if index % 3 else (other, other_version.number)
        payload = {"site": target.key, "config_version": number,
                   "action": actions[index % 3], "language": "sv"}
        if payload["action"] == "custom":
            payload["purposes"] = {"analytics": True}
        record_consent(payload, None, "https://shop.example")
        if index % 7 == 6:
            seal_now(batch_size=5)
    versions.set_draft_vendors(site, [("mixpanel", None), ("google-analytics", None)])
    versions.publish(site)
    record_consent({"site": site.key, "config_version": 2, "action": "accept_all",
                    "language": "en"}, None, "https://shop.example")
    return site, other


@pytest.fixture
def bundle(runner, two_sites, tmp_path) -> Path:
    site, _ = two_sites
    out = tmp_path / "proof.zip"
    result = runner.invoke(args=["cmp", "export", "--site", site.key, "--from", "2000-01-01",
                                 "--to", "2100-01-01", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "17 records, 0 tombstones" in result.output
    assert "seals: " in result.output  # progress
    return out


def run_verifier(path: Path, *more: str, command: str = "verify") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", OFFLINE.replace("'verify'", repr(command)),
                           str(path), *more], capture_output=True, text=True, timeout=60)


def test_the_export_verifies_offline_without_flask(bundle, two_sites):
    site, _ = two_sites
    result = run_verifier(bundle)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"site {site.key}: 17 records and 0 tombstones verified" in result.stdout
    assert "2 configuration versions match their hashes" in result.stdout
    assert result.stdout.strip().endswith("OK: every record, seal and signature verifies")


def test_every_record_is_counted_however_many_processes_check_them(bundle, workers):
    summary = verify_bundle(str(bundle))
    assert (summary.records, summary.tombstones, summary.configs) == (17, 0, 2)


def test_the_bundle_holds_everything_an_auditor_needs(bundle, two_sites, tmp_path):
    site, other = two_sites
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
        records = [json.loads(l) for l in archive.read("records.jsonl").splitlines()]
        retention = json.loads(archive.read("retention.json"))
        config_versions = json.loads(archive.read("configs.json"))["versions"]
    assert names == {"manifest.json", "keys.json", "seals.jsonl", "records.jsonl",
                     "configs.json", "retention.json"}
    # the renderings are derived offline, from the verified bundle alone
    result = run_verifier(bundle, str(tmp_path / "renderings"), command="render")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: every record, seal and signature verifies" in result.stdout
    kantara = [json.loads(l) for l in (tmp_path / "renderings/kantara.jsonl").read_text().splitlines()]
    csv_lines = (tmp_path / "renderings/records.csv").read_text().splitlines()
    assert all(k["version"] == "KI-CR-v1.1.0" for k in kantara)
    assert manifest["site"] == site.key and manifest["counts"]["records"] == 17
    issued = sorted(r["record"]["issued_at"] for r in records)
    assert manifest["covered_issued_at"] == {"first": issued[0], "last": issued[-1]}
    assert all(r["record"]["site"] == site.key for r in records)  # no other site's record
    assert other.key not in json.dumps(records)
    assert [k["consentReceiptID"] for k in kantara] == [r["record"]["receipt_id"] for r in records]
    assert csv_lines[0].startswith("receipt_id,subject_id,issued_at") and len(csv_lines) == 18
    assert retention["vendor_retention_months"]["mixpanel"] == 24
    assert retention["purged_before_export"]["removed"] == 0
    assert [v["number"] for v in config_versions] == [1, 2]


def test_records_go_into_the_bundle_as_stored_and_render_as_before(bundle, two_sites, tmp_path):
    """A record's line holds its stored canonical bytes unchanged (what the seal hashed),
    and its Kantara rendering is the one the server gives for that receipt."""
    from cmp_server.consent.receipts import notice
    from cmp_server.models import LEDGER_TABLES
    from cmp_server.platform.extensions import db
    from consent_logs import kantara

    stored = dict(db.session.execute(select(LEDGER_TABLES.records.c.receipt_id,
                                            LEDGER_TABLES.records.c.data)).all())
    with zipfile.ZipFile(bundle) as archive:
        lines = archive.read("records.jsonl").splitlines()
    for line in lines:
        record = json.loads(line)["record"]
        assert line.endswith(b',"record":' + stored[record["receipt_id"]].encode() + b"}")
    assert run_verifier(bundle, str(tmp_path), command="render").returncode == 0
    rendered = [json.loads(l) for l in (tmp_path / "kantara.jsonl").read_text().splitlines()]
    first = json.loads(lines[0])["record"]
    assert rendered[0] == kantara.render(first, notice(first["site"], first["config_version"]))


def test_a_bundle_of_the_first_format_still_verifies(bundle):
    """Format 1 stored the renderings and re-encoded each record: such a bundle, already in
    an auditor's hands, still verifies (its records re-encoded, as then)."""
    def as_first_format(data: bytes) -> bytes:
        return b"".join(json.dumps(json.loads(line), ensure_ascii=False,
                                   separators=(",", ":")).encode() + b"\n"
                        for line in data.splitlines())

    def first_manifest(data: bytes) -> bytes:
        manifest = json.loads(data)
        manifest["format"] = "cmp-proof-bundle/1"
        return json.dumps(manifest).encode()

    rewrite(bundle, "records.jsonl", as_first_format)
    rewrite(bundle, "manifest.json", first_manifest)
    members = members_of(bundle) + [("kantara.jsonl", b"{}\n"), ("records.csv", b"receipt_id\n")]
    write_members(bundle, members)
    assert verify_bundle(str(bundle)).records == 17


def test_rendering_into_a_place_that_cannot_hold_a_directory_says_so(bundle, tmp_path):
    (tmp_path / "a-file").write_text("")
    result = run_verifier(bundle, str(tmp_path / "a-file"), command="render")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"cannot write the renderings into {tmp_path / 'a-file'}" in result.stderr


def test_a_bundle_that_does_not_verify_is_not_rendered(bundle, tmp_path):
    rewrite(bundle, "records.jsonl", change_record)
    result = run_verifier(bundle, str(tmp_path / "out"), command="render")
    assert result.returncode == 1 and result.stdout.startswith("FAILED: record ")
    assert not (tmp_path / "out").exists()


def rewrite(path: Path, member: str, change) -> None:
    """Rewrite one member of the zip, as someone editing the bundle would."""
    with zipfile.ZipFile(path) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    contents[member] = change(contents[member])
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)


def lines_of(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.splitlines()]


def as_lines(entries: list[dict]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in entries)


def change_record(data: bytes) -> bytes:
    entries = lines_of(data)
    entries[3]["record"]["state"] = "given" if entries[3]["record"]["state"] != "given" else "refused"
    return as_lines(entries)


def swap_records(data: bytes) -> bytes:
    entries = lines_of(data)
    entries[1], entries[2] = entries[2], entries[1]
    return as_lines(entries)


def drop_record(data: bytes) -> bytes:
    entries = lines_of(data)
    del entries[4]
    return as_lines(entries)


def change_seal(data: bytes) -> bytes:
    entries = lines_of(data)
    import re

    entries[1]["body"] = re.sub(r'"record_count":(\d+)',
                                lambda m: f'"record_count":{int(m.group(1)) + 1}', entries[1]["body"])
    return as_lines(entries)


def drop_seal(data: bytes) -> bytes:
    entries = lines_of(data)
    del entries[1]
    return as_lines(entries)


def change_key(data: bytes) -> bytes:
    from consent_logs import SigningKey

    keys = json.loads(data)
    keys["keys"][0]["public_key"] = SigningKey.generate().public.public_key
    return json.dumps(keys).encode()


def change_config(data: bytes) -> bytes:
    versions = json.loads(data)
    versions["versions"][0]["content"]["policy_url"] = "https://elsewhere.example/"
    return json.dumps(versions).encode()


def change_config_and_its_hash(data: bytes) -> bytes:
    """A configuration edited with its hash recomputed: the configurations still check,
    the records' config_hash no longer matches (the per-record check catches it)."""
    from consent_logs import content_hash

    versions = json.loads(data)
    for version in versions["versions"]:
        version["content"]["policy_url"] = "https://elsewhere.example/"
        version["content_hash"] = content_hash(version["content"])
    return json.dumps(versions).encode()


TAMPERING = [
    ("records.jsonl", change_record, "record ", "does not match its sealed leaf"),
    ("records.jsonl", swap_records, "record ", "out of order"),
    ("records.jsonl", drop_record, "record ", "out of order, or a record before it is missing"),
    ("seals.jsonl", change_seal, "seal 2", "signature does not verify"),
    ("seals.jsonl", drop_seal, "seal 2", "missing (found seal 3)"),
    ("keys.json", change_key, "keys.json", "not an Ed25519 key named by its key id"),
    ("configs.json", change_config, "configuration", "content does not match its hash"),
    ("configs.json", change_config_and_its_hash, "record ",
     "config_hash differs from the configuration shown"),
]


@pytest.fixture(params=["one process", "worker processes"])
def workers(request, monkeypatch):
    """The verifier as on one core, and as on several: records.jsonl scanned by worker
    processes in small blocks, so failures must still come in bundle order."""
    from consent_logs import bundle as bundle_module

    if request.param == "worker processes":
        monkeypatch.setattr(bundle_module, "PARALLEL_FROM", 0)
        monkeypatch.setattr(bundle_module, "CHUNK", 300)
        monkeypatch.setattr(bundle_module.os, "cpu_count", lambda: 2)
    return request.param


@pytest.mark.parametrize("member,change,where,why", TAMPERING,
                         ids=[t[1].__name__ for t in TAMPERING])
def test_tampering_is_caught_and_named(bundle, member, change, where, why, workers):
    rewrite(bundle, member, change)
    with pytest.raises(VerificationError) as caught:
        verify_bundle(str(bundle))
    assert caught.value.where.startswith(where)
    assert why in caught.value.why
    result = run_verifier(bundle)
    assert result.returncode == 1
    assert result.stdout.startswith(f"FAILED: {caught.value.where}: ")


def test_dropping_the_last_record_of_a_seal_is_caught(bundle, workers):
    def drop_last(data: bytes) -> bytes:
        entries = lines_of(data)
        del entries[-1]
        return as_lines(entries)

    rewrite(bundle, "records.jsonl", drop_last)
    with pytest.raises(VerificationError, match="is missing"):
        verify_bundle(str(bundle))


def test_a_period_exports_whole_seals_only(runner, two_sites, tmp_path):
    site, _ = two_sites
    out = tmp_path / "empty.zip"
    result = runner.invoke(args=["cmp", "export", "--site", site.key, "--from", "1990-01-01",
                                 "--to", "1991-01-01", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "0 records" in result.output
    assert verify_bundle(str(out)).records == 0


def test_bad_export_arguments_leave_no_file(runner, two_sites, tmp_path):
    out = tmp_path / "nothing.zip"
    result = runner.invoke(args=["cmp", "export", "--site", "no-such-site", "--from",
                                 "2020-01-01", "--to", "2021-01-01", "--out", str(out)])
    assert result.exit_code == 2 and "unknown site" in result.output
    assert not out.exists()


def members_of(path: Path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as archive:
        return [(name, archive.read(name)) for name in archive.namelist()]


def write_members(path: Path, members: list[tuple[str, bytes]]) -> None:
    import warnings

    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as archive:
        warnings.simplefilter("ignore")  # a duplicated name, on purpose
        for name, data in members:
            archive.writestr(name, data)


MALFORMED = [  # found by the stress suite's fuzzer: each used to crash with a traceback
    ("manifest.json", lambda d: b"[]", "manifest.json", "malformed"),
    ("manifest.json", lambda d: d.replace(b'"site"', b'"place"'), "manifest.json",
     "field 'site' is missing"),
    ("keys.json", lambda d: b'{"keys": null}', "keys.json", "malformed"),
    ("configs.json", lambda d: b"[" * 100_000 + b"]" * 100_000, "configs.json", "not JSON"),
    ("seals.jsonl", lambda d: d.replace(b'"signature":"', b'"signature":1,"x":"', 1), "seal 1",
     "malformed"),
    ("records.jsonl", lambda d: d.replace(b'"record":', b'"record":null,"r":', 1), "record ",
     "malformed"),
    ("records.jsonl", lambda d: b"1" * 5000 + b"\n" + d, "records.jsonl line 1", "not JSON"),
    # records and seals cut from the end leave a shorter chain that still verifies: the
    # manifest's counts catch it
    ("records.jsonl", lambda d: b"", "manifest.json", "the bundle holds 0"),
]


@pytest.mark.parametrize("member,change,where,why", MALFORMED)
def test_a_malformed_bundle_is_reported_never_crashes(bundle, member, change, where, why,
                                                     workers):
    if member == "records.jsonl" and why.startswith("the bundle holds"):
        rewrite(bundle, "seals.jsonl", lambda d: b"")
    rewrite(bundle, member, change)
    with pytest.raises(VerificationError) as caught:
        verify_bundle(str(bundle))
    assert caught.value.where.startswith(where) and why in caught.value.why, caught.value
    result = run_verifier(bundle)
    assert result.returncode == 1 and "Traceback" not in result.stderr


def test_a_doubled_or_missing_member_is_refused(bundle):
    members = members_of(bundle)
    original = dict(members)
    write_members(bundle, members + [("records.jsonl", change_record(original["records.jsonl"]))])
    with pytest.raises(VerificationError, match="records.jsonl: appears twice"):
        verify_bundle(str(bundle))
    write_members(bundle, [(n, d) for n, d in members if n != "configs.json"])
    with pytest.raises(VerificationError, match="configs.json: missing from the bundle"):
        verify_bundle(str(bundle))


def test_oversized_members_and_lines_are_refused_unread(bundle, monkeypatch):
    from consent_logs import bundle as bundle_module

    monkeypatch.setattr(bundle_module, "MAX_LINE", 100)
    with pytest.raises(VerificationError, match="seals.jsonl line 1: longer than 100 bytes"):
        verify_bundle(str(bundle))
    monkeypatch.setattr(bundle_module, "MAX_JSON_MEMBER", 100)
    with pytest.raises(VerificationError, match="manifest.json: larger than 100 bytes"):
        verify_bundle(str(bundle))



def exported_members(runner, site_key: str, out: Path, counts: str) -> dict[str, bytes]:
    result = runner.invoke(args=["cmp", "export", "--site", site_key, "--from", "2000-01-01",
                                 "--to", "2100-01-01", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert counts in result.output
    assert run_verifier(out).returncode == 0
    with zipfile.ZipFile(out) as archive:
        return {name: archive.read(name) for name in ("records.jsonl", "seals.jsonl")}


def test_every_way_of_reading_the_shares_gives_the_same_bundle(
        runner, two_sites, tmp_path, monkeypatch):
    """On PostgreSQL, seals whose members are in ledger order are read in ledger order (as
    ranges of each table); otherwise, and on SQLite, in seal and position order; a query
    for each run of seals. All give the same bundle, byte for byte, tombstones included."""
    from datetime import datetime, timezone

    import consent_logs.export as export_module
    from cmp_server.models import LEDGER_TABLES, ledger
    from cmp_server.platform.extensions import db
    from consent_logs.ledger import Removal

    site, _ = two_sites
    r, m = LEDGER_TABLES.records, LEDGER_TABLES.seal_members
    sealed = db.session.execute(select(r.c.seq).join(m, m.c.record_seq == r.c.seq)
                                .where(r.c.site == site.key).order_by(r.c.seq)).scalars().all()
    with db.engine.begin() as conn:
        ledger.replace_by_tombstones(conn, [Removal(sealed[1], "retention: test"),
                                            Removal(sealed[-2], "retention: test")],
                                     datetime.now(timezone.utc))
    counts = "15 records, 2 tombstones"
    ranges = []
    ledger_range = export_module.BundleWriter.ledger_range
    monkeypatch.setattr(export_module.BundleWriter, "ledger_range",
                        lambda self, numbers: ranges.append(ledger_range(self, numbers))
                        or ranges[-1])
    streamed = exported_members(runner, site.key, tmp_path / "streamed.zip", counts)
    if db.engine.dialect.name == "postgresql":
        assert ranges and None not in ranges  # read in ledger order, as ranges
    monkeypatch.setattr(export_module.BundleWriter, "ledger_range", lambda self, numbers: None)
    assert exported_members(runner, site.key, tmp_path / "seal-order.zip", counts) == streamed
    monkeypatch.setattr(export_module.BundleWriter, "ledger_range", ledger_range)
    # a query for every few seals (SQLite's WAL, a statement's parameters)
    monkeypatch.setattr(export_module, "MEMBERS_PER_QUERY", 6)
    monkeypatch.setattr(export_module, "SEALS_PER_QUERY", 2)
    assert exported_members(runner, site.key, tmp_path / "runs.zip", counts) == streamed


def seal_as_an_earlier_version_could(groups: list[list[int]]) -> None:
    """Seals whose members are not in ledger order, as sealing before it kept a horizon
    could make them (a slow writer's record sealed after later ones)."""
    from datetime import datetime, timezone

    from cmp_server.consent.sealing import signing_key
    from cmp_server.models import LEDGER_TABLES, ledger
    from cmp_server.platform.extensions import db
    from consent_logs.canonical import canonical_json
    from consent_logs.ledger import Batch
    from consent_logs.seals import Seal, seal_body

    key, root, r = signing_key(), None, LEDGER_TABLES.records
    with db.engine.begin() as conn:
        ledger._register_key(conn, key)
        for number, seqs in enumerate(groups, start=1):
            leaves = dict((seq, (site, leaf)) for seq, site, leaf in conn.execute(
                select(r.c.seq, r.c.site, r.c.leaf_hash).where(r.c.seq.in_(seqs))))
            sealed_at = datetime.now(timezone.utc)
            content = seal_body(number, [leaves[seq] for seq in seqs], root, sealed_at,
                                key.key_id)
            body = canonical_json(content).decode("utf-8")
            seal = Seal(number, len(seqs), content["root"], root, key.key_id, body,
                        key.sign(body.encode("utf-8")))
            ledger._write_seal(conn, Batch(seal, sealed_at, seqs))
            root = content["root"]


def test_seals_out_of_ledger_order_are_read_in_seal_order(runner, shop, tmp_path):
    from cmp_server.models import LEDGER_TABLES, ledger
    from cmp_server.platform.extensions import db
    from consent_logs.export import BundleWriter

    site, version = shop
    for action in ["accept_all", "reject_all"] * 4:
        record_consent({"site": site.key, "config_version": version.number, "action": action,
                        "language": "sv"}, None, "https://shop.example")
    seqs = db.session.execute(select(LEDGER_TABLES.records.c.seq)
                              .order_by(LEDGER_TABLES.records.c.seq)).scalars().all()
    # the second seal holds a record older than most of the first one's
    seal_as_an_earlier_version_could([[seqs[0], *seqs[2:7]], [seqs[1], seqs[7]]])
    db.session.commit()
    writer = BundleWriter(ledger, db.session.connection(), site.key, notice=None)
    assert writer.ledger_range([1, 2]) is None
    assert writer.ledger_range([1]) == (seqs[0], seqs[6])
    members = exported_members(runner, site.key, tmp_path / "proof.zip",
                               "8 records, 0 tombstones")
    lines = [json.loads(line) for line in members["records.jsonl"].splitlines()]
    assert [(line["seal"], line["position"]) for line in lines] == [
        (1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (2, 0), (2, 1)]
