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
