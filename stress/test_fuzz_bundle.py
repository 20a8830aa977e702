"""Hostile input: the offline bundle verifier, fuzzed with hypothesis on a real small proof
bundle. Every mutation (flipped bytes, removed, renamed or duplicated members, corrupt
JSON lines, huge numbers, wrong types, deep nesting, zip bombs) is either reported invalid
with a reason, or changed nothing the bundle proves; the verifier never crashes."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import warnings
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from cmp_server.consent.proof import export
from cmp_server.consent.receipts import record_consent
from cmp_server.consent.sealing import seal_now
from cmp_server.consent.subjects import erase_for_officer
from consent_logs.bundle import verify_bundle
from consent_logs.seals import VerificationError

pytestmark = pytest.mark.stress
Members = list[tuple[str, bytes]]
JSON_MEMBERS = ("manifest.json", "keys.json", "configs.json")
JSONL_MEMBERS = ("seals.jsonl", "records.jsonl")
HOSTILE_VALUES = [None, True, -1, 0, 2**64, 1e308, "", "x" * 1000, [], {}, [[[]]],
                  {"seal": 1}, "\u0000", "\udcff"]
RAW_VALUES = ["1" + "0" * 5000, "1e999", "-1e999", "[" * 100_000 + "]" * 100_000,
              '{"a":' * 50_000 + "1" + "}" * 50_000, "NaN", "Infinity"]


@pytest.fixture
def engine_name() -> str:
    """The verifier is offline: one engine makes the bundle it is given."""
    return "sqlite"


@pytest.fixture
def members(shop) -> Members:
    """A real bundle: records in two seals, one of them a tombstone after an erasure."""
    site, version = shop
    receipts = [record_consent({"site": site.key, "config_version": version.number,
                                "action": action, "language": "sv"}, None, "https://shop.example").receipt
                for action in ("accept_all", "reject_all", "accept_all")]
    seal_now(batch_size=2)
    erase_for_officer(receipts[1]["receipt_id"], None)
    out = io.BytesIO()
    export(site.key, datetime(2000, 1, 1, tzinfo=timezone.utc),
           datetime(2100, 1, 1, tzinfo=timezone.utc), out)
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def write_zip(path: Path, members: Members) -> Path:
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        warnings.simplefilter("ignore")  # a duplicated member is one of the mutations
        for name, data in members:
            archive.writestr(zipfile.ZipInfo(name), data, zipfile.ZIP_DEFLATED)
    return path


SEAL_FIELDS = ("seal", "key_id", "body", "signature", "site_leaves")
KEY_FIELDS = ("kid", "alg", "public_key")
CONFIG_FIELDS = ("site", "number", "content_hash", "content")


def only(document: dict, fields: tuple[str, ...]) -> dict:
    return {name: document[name] for name in fields if name in document}


def proven_entry(entry: dict) -> dict:
    """A records.jsonl entry as far as it is proven: its seal, and its record or (all an
    erased record leaves) its tombstone's leaf hash."""
    return {**only(entry, ("seal", "record")),
            **({"leaf": entry["tombstone"]["leaf_hash"]} if "tombstone" in entry else {})}


def proven(members: Members) -> Any:
    """What the bundle proves, parsed: the fields the verifier checks, without the
    descriptive rest (the manifest beyond format, site and counts, a record's position, a
    tombstone's receipt id and reason, any field the format does not define). None when
    a member is missing, doubled or unreadable."""
    names = [name for name, _ in members]
    if len(set(names)) != len(names):
        return None
    data = dict(members)
    try:
        # lines end at "\n" only, as the verifier reads them: a "\r" between two tokens
        # is JSON whitespace, not the end of a line
        lines = {name: [json.loads(line) for line in data[name].split(b"\n") if line.strip()]
                 for name in JSONL_MEMBERS}
        manifest = json.loads(data["manifest.json"])
        return {"manifest": [manifest["format"], manifest["site"], manifest["counts"]],
                "keys": [only(k, KEY_FIELDS) for k in json.loads(data["keys.json"])["keys"]],
                "configs": [only(v, CONFIG_FIELDS)
                            for v in json.loads(data["configs.json"])["versions"]],
                "seals": [only(seal, SEAL_FIELDS) for seal in lines["seals.jsonl"]],
                "records": [proven_entry(entry) for entry in lines["records.jsonl"]]}
    except Exception:  # noqa: BLE001  (anything unreadable proves nothing)
        return None


# --- mutations: each takes the members and hypothesis's data, returns new members -----------

def pick(members: Members, data, names=None) -> int:
    choices = [i for i, (name, _) in enumerate(members) if names is None or name in names]
    assume(choices)
    return data.draw(st.sampled_from(choices))


def replace(members: Members, index: int, name: str, content: bytes) -> Members:
    return members[:index] + [(name, content)] + members[index + 1:]


def flip_bytes(members, data):
    index = pick(members, data)
    name, content = members[index]
    content = bytearray(content)
    for _ in range(data.draw(st.integers(1, 3))):
        position = data.draw(st.integers(0, max(len(content) - 1, 0)))
        if content:
            content[position] ^= data.draw(st.integers(1, 255))
    return replace(members, index, name, bytes(content))


def truncate(members, data):
    index = pick(members, data)
    name, content = members[index]
    return replace(members, index, name, content[:data.draw(st.integers(0, max(len(content) - 1, 0)))])


def remove(members, data):
    index = pick(members, data)
    return members[:index] + members[index + 1:]


def rename(members, data):
    index = pick(members, data)
    name, content = members[index]
    new = data.draw(st.sampled_from([name.upper(), name + ".bak", "dir/" + name, name[:-1],
                                     "manifest.json", "records.jsonl"]))
    return replace(members, index, new, content)


def duplicate(members, data):
    """A second copy of a member, changed: zip tools disagree on which copy they show."""
    index = pick(members, data)
    name, content = members[index]
    changed = flip_bytes([(name, content)], data)[0][1]
    copies = [(name, changed), (name, content)]
    if data.draw(st.booleans()):
        copies.reverse()
    return members[:index] + copies + members[index + 1:]


def corrupt_line(members, data):
    index = pick(members, data, JSONL_MEMBERS)
    name, content = members[index]
    lines = content.splitlines(keepends=True)
    at = data.draw(st.integers(0, max(len(lines) - 1, 0)))
    action = data.draw(st.sampled_from(["garbage", "delete", "duplicate", "swap", "blank"]))
    if action == "garbage":
        lines[at:at + 1] = [data.draw(st.sampled_from(
            [b"{not json\n", b"[]\n", b"null\n", b"42\n", b'"text"\n', b"\xff\xfe\n"]))]
    elif action == "delete":
        del lines[at:at + 1]
    elif action == "duplicate":
        lines[at:at] = lines[at:at + 1]
    elif action == "swap" and len(lines) > 1:
        other = (at + 1) % len(lines)
        lines[at], lines[other] = lines[other], lines[at]
    else:
        lines[at:at] = [b"\n"]
    return replace(members, index, name, b"".join(lines))


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside a JSON document."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, prefix + (key,))
    elif isinstance(value, list):
        for position, item in enumerate(value):
            found += paths(item, prefix + (position,))
    return found


def set_path(document: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    *parents, last = path
    target = document
    for step in parents:
        target = target[step]
    target[last] = value
    return document


PLACEHOLDER = "\u0007raw\u0007"


def change_value(members, data):
    """One value anywhere in a JSON member or line, replaced by a hostile one: a wrong
    type, a huge or non-finite number, deep nesting."""
    index = pick(members, data, JSON_MEMBERS + JSONL_MEMBERS)
    name, content = members[index]
    lines = content.splitlines() if name.endswith(".jsonl") else [content]
    at = data.draw(st.integers(0, max(len(lines) - 1, 0)))
    try:
        document = json.loads(lines[at]) if lines else {}
    except ValueError:
        assume(False)  # an earlier mutation already broke this line
    path = data.draw(st.sampled_from(paths(document)))
    raw = data.draw(st.one_of(st.none(), st.sampled_from(RAW_VALUES)))
    value = PLACEHOLDER if raw else data.draw(st.sampled_from(HOSTILE_VALUES))
    text = json.dumps(set_path(document, path, value)).replace(f'"{PLACEHOLDER}"', raw or "")
    lines[at:at + 1] = [text.encode("utf-8", "surrogatepass")]
    return replace(members, index, name, b"\n".join(lines) + b"\n")


MUTATIONS = {f.__name__: f for f in (flip_bytes, truncate, remove, rename, duplicate,
                                     corrupt_line, change_value)}


def check_verifier(path: Path, original: Any, mutated: Members, what: str) -> str:
    """'refused' or 'unchanged'; fails on a crash or on an accepted tampered bundle."""
    try:
        verify_bundle(str(path))
    except VerificationError as error:
        assert error.where and error.why, what
        return "refused"
    except Exception as error:  # noqa: BLE001
        pytest.fail(f"{what}: the verifier crashed: {error!r}")
    assert proven(mutated) == original, f"{what}: a tampered bundle was accepted"
    return "unchanged"


def test_mutated_bundles_are_refused_with_a_reason(members, tmp_path, profile, figures):
    original = proven(members)
    assert original is not None and verify_bundle(str(write_zip(tmp_path / "ok.zip", members)))
    outcomes: dict[str, int] = {}

    @settings(max_examples=profile.fuzz_examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(st.lists(st.sampled_from(sorted(MUTATIONS)), min_size=1, max_size=2), st.data())
    def check(mutations, data):
        mutated = members
        for mutation in mutations:
            mutated = MUTATIONS[mutation](mutated, data)
        path = write_zip(tmp_path / "mutated.zip", mutated)
        outcome = check_verifier(path, original, mutated, "+".join(mutations))
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    check()
    figures.add("hostile input", "bundle verifier fuzz",
                f"{sum(outcomes.values())} mutated bundles: {outcomes.get('refused', 0)} refused "
                f"with a reason, {outcomes.get('unchanged', 0)} changed nothing proven; "
                "0 crashes, 0 tampered accepted")


def verdict(path: Path) -> tuple[str, str] | None:
    """The verifier's answer: None when the bundle verifies, else (where, why)."""
    try:
        verify_bundle(str(path))
    except VerificationError as error:
        return error.where, error.why
    return None


def test_the_standard_library_accepts_and_refuses_as_orjson_does(members, tmp_path, profile,
                                                                 monkeypatch):
    """orjson parses when it is installed, the standard library when not: every mutated
    bundle gets the same answer, word for word, either way."""
    from consent_logs import bundle as bundle_module

    @settings(max_examples=profile.fuzz_examples // 4, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(st.lists(st.sampled_from(["flip_bytes", "corrupt_line", "change_value"]),
                    min_size=1, max_size=2), st.data())
    def check(mutations, data):
        mutated = members
        for mutation in mutations:
            mutated = MUTATIONS[mutation](mutated, data)
        path = write_zip(tmp_path / "mutated.zip", mutated)
        with_orjson = verdict(path)
        with monkeypatch.context() as without:
            without.setattr(bundle_module, "orjson", None)
            assert verdict(path) == with_orjson, "+".join(mutations)

    assert bundle_module.orjson is not None, "orjson is a dependency of the package"
    check()


def bomb(path: Path, members: Members, name: str, chunk: bytes, size: int) -> Path:
    """The bundle with one member replaced by ``size`` bytes of ``chunk`` repeated: a few
    hundred KiB compressed, written in chunks so the test's own memory stays flat."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members:
            if member != name:
                archive.writestr(member, data)
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as handle:
            for _ in range(size // len(chunk)):
                handle.write(chunk)
    return path


BOMBS = [("manifest.json", b" " * 2**20), ("records.jsonl", b"[" * 2**20),
         ("seals.jsonl", b"0" * 2**20)]


@pytest.mark.parametrize("name,chunk", BOMBS, ids=[b[0] for b in BOMBS])
def test_zip_bombs_are_refused_quickly_in_bounded_memory(members, tmp_path, name, chunk, figures):
    path = bomb(tmp_path / "bomb.zip", members, name, chunk, 1 << 30)  # 1 GiB expanded
    code = ("import re, sys, time; from consent_logs.__main__ import main; "
            "start = time.monotonic(); status = main(['verify', '--quiet', sys.argv[1]]); "
            "peak = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1); "
            "print('PEAK', int(peak) // 1024, round(time.monotonic() - start, 2)); "
            "sys.exit(status)")
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith(f"FAILED: {name}"), result.stdout
    assert "Traceback" not in result.stderr
    peak_mib, seconds = result.stdout.split("PEAK ")[1].split()
    assert int(peak_mib) < 200, f"{peak_mib} MiB"
    figures.add("hostile input", f"zip bomb in {name} (1 GiB expanded, "
                f"{path.stat().st_size // 1024} KiB zipped)",
                f"refused in {seconds} s, peak {peak_mib} MiB")


def test_the_cli_reports_a_damaged_bundle_without_a_traceback(members, tmp_path):
    for mutated in ([("manifest.json", b"[]")] + members[1:],
                    [(n, b"\xff" + d) for n, d in members], members[:2]):
        path = write_zip(tmp_path / "damaged.zip", mutated)
        result = subprocess.run([sys.executable, "-m", "consent_logs", "verify", str(path)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 1 and result.stdout.startswith("FAILED: "), result.stdout
        assert "Traceback" not in result.stderr, result.stderr
