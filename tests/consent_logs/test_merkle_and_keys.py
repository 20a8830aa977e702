"""The ledger library's primitives, without a database or Flask."""
from __future__ import annotations

import hashlib
import stat
import subprocess
import sys

import pytest

from consent_logs import PublicKey, SigningKey, canonical_json, leaf_hash, merkle_root
from consent_logs.merkle import node_hash
from tests.support.races import disagreements, race


def reference_mth(data: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.1, written as the RFC states it (recursive split)."""
    if not data:
        return hashlib.sha256(b"").digest()
    if len(data) == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1
    while k * 2 < len(data):
        k *= 2
    return hashlib.sha256(b"\x01" + reference_mth(data[:k]) + reference_mth(data[k:])).digest()


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 64, 100])
def test_merkle_root_matches_rfc_9162(n):
    data = [f"record {i}".encode() for i in range(n)]
    assert merkle_root([leaf_hash(d) for d in data]) == reference_mth(data)


def test_leaf_and_node_hashes_are_domain_separated():
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert merkle_root([leaf_hash(b"a"), leaf_hash(b"b")]) != merkle_root([leaf_hash(b"b"), leaf_hash(b"a")])


def test_canonical_json_is_one_spelling():
    assert canonical_json({"b": 1, "a": "å", "c": [True, None]}) == '{"a":"å","b":1,"c":[true,null]}'.encode()
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_signatures_verify_only_with_the_signing_key(tmp_path):
    key = SigningKey.load_or_create(tmp_path / "key.pem")
    assert oct((tmp_path / "key.pem").stat().st_mode & 0o777) == "0o600"
    again = SigningKey.load_or_create(tmp_path / "key.pem")
    assert again.key_id == key.key_id and len(key.key_id) == 16
    signature = key.sign(b"seal body")
    assert key.public.verify(signature, b"seal body")
    assert not key.public.verify(signature, b"seal body!")
    assert not SigningKey.generate().public.verify(signature, b"seal body")
    assert not PublicKey(key.key_id, key.public.public_key).verify("not-base64!", b"seal body")


def test_processes_creating_the_key_together_all_get_the_one_key(tmp_path):
    """Sealers (and the workers that answer /.well-known/cmp-keys.json) of a first start:
    none may read a half-written key file, or go on with a key of its own."""
    paths = [tmp_path / f"instance-{n}" / "ledger.pem" for n in range(30)]
    results = race(lambda path: SigningKey.load_or_create(path).key_id, paths)
    assert disagreements(results) == []
    for path, key_id in zip(paths, results[0]):
        assert SigningKey.from_pem(path.read_bytes()).key_id == key_id
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert [p.name for p in path.parent.iterdir()] == ["ledger.pem"]  # no temporary left


def test_the_library_imports_nothing_from_flask():
    code = ("import sys, consent_logs, consent_logs.ledger, consent_logs.keys;"
            "assert not any(m == 'flask' or m.startswith('flask') for m in sys.modules), "
            "[m for m in sys.modules if m.startswith('flask')]")
    subprocess.run([sys.executable, "-c", code], check=True)


def reference_seal_roots(leaves: list[tuple[str, str]]) -> tuple[str, dict]:
    """A seal's roots by their definition: the root over every leaf in seal order, and per
    site (sorted) the count and root of that site's leaves in seal order."""
    by_site: dict[str, list[bytes]] = {}
    for site, leaf in leaves:
        by_site.setdefault(site, []).append(bytes.fromhex(leaf))
    sites = {site: {"count": len(hashes), "root": reference_mth_of_hashes(hashes).hex()}
             for site, hashes in sorted(by_site.items())}
    return reference_mth_of_hashes([bytes.fromhex(leaf) for _, leaf in leaves]).hex(), sites


def reference_mth_of_hashes(hashes: list[bytes]) -> bytes:
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return hashlib.sha256(b"\x01" + reference_mth_of_hashes(hashes[:k])
                          + reference_mth_of_hashes(hashes[k:])).digest()


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7, 8, 16, 31, 33, 100, 1000])
@pytest.mark.parametrize("sites", [1, 2, 3, 7])
def test_seal_bodies_keep_their_roots_byte_for_byte(count, sites):
    """The shortcuts that spare a second pass over the leaves (one site: its root is the
    whole root) sign exactly the body the definition gives, so old seals and bundles
    still verify; sites interleaved in seal order, as a busy ledger holds them."""
    from datetime import datetime, timezone

    from consent_logs.seals import seal_body, site_roots

    names = [f"site{n}" for n in range(sites)]
    leaves = [(names[(i * 5 + i // 3) % sites], leaf_hash(f"record {i}".encode()).hex())
              for i in range(count)]
    root, per_site = reference_seal_roots(leaves)
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    body = seal_body(9, leaves, "ab" * 32, when, "k1")
    expected = {"format": 1, "seal": 9, "record_count": count, "root": root, "sites": per_site,
                "previous_root": "ab" * 32, "sealed_at": "2026-01-02T03:04:05Z",
                "key_id": "k1", "algorithm": "Ed25519"}
    assert canonical_json(body) == canonical_json(expected)
    assert site_roots(leaves) == site_roots(leaves, bytes.fromhex(root)) == per_site
