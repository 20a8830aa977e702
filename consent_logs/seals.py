"""Seals, checked with nothing but the standard library and cryptography: this module and
the ones it imports are all an auditor's verifier needs (no database, no Flask)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from consent_logs.canonical import canonical_json
from consent_logs.keys import ALGORITHM, PublicKey
from consent_logs.merkle import leaf_hash, merkle_root
from consent_logs.timeutil import utc_iso

SEAL_FORMAT = 1


class VerificationError(Exception):
    """The first thing that does not verify, named (``where``) and explained."""

    def __init__(self, where: str, why: str):
        super().__init__(f"{where}: {why}")
        self.where, self.why = where, why


@dataclass(frozen=True)
class Seal:
    number: int
    record_count: int
    root: str
    previous_root: str | None
    key_id: str
    body: str
    signature: str


def record_leaf(data: bytes) -> str:
    return leaf_hash(data).hex()


def site_roots(leaves: list[tuple[str, str]],
               whole_root: bytes | None = None) -> dict[str, dict[str, Any]]:
    """Per site, the count and Merkle root of its leaves in seal order. Signed inside the
    seal, they let a site's proof bundle be checked for completeness and order without
    revealing any other site's records. (``whole_root``: the root over all the leaves,
    which is the only site's root when there is one site, the common case: then the leaves
    are neither decoded nor hashed a second time.)"""
    if whole_root is not None and leaves and _one_site(leaves):
        return {leaves[0][0]: {"count": len(leaves), "root": whole_root.hex()}}
    by_site: dict[str, list[bytes]] = {}
    for site, leaf in leaves:
        by_site.setdefault(site, []).append(bytes.fromhex(leaf))
    return {site: {"count": len(hashes), "root": merkle_root(hashes).hex()}
            for site, hashes in sorted(by_site.items())}


def _one_site(leaves: list[tuple[str, str]]) -> bool:
    first = leaves[0][0]
    return all(site == first for site, _ in leaves)


def seal_body(number: int, leaves: list[tuple[str, str]], previous_root: str | None,
              sealed_at: datetime, key_id: str) -> dict[str, Any]:
    """What a seal signs: its place in the chain, the root over all its records (as
    (site, hex leaf hash) in seal order) and the root of each site's share of them."""
    root = merkle_root([bytes.fromhex(leaf) for _, leaf in leaves])
    return {
        "format": SEAL_FORMAT,
        "seal": number,
        "record_count": len(leaves),
        "root": root.hex(),
        "sites": site_roots(leaves, root),
        "previous_root": previous_root,
        "sealed_at": utc_iso(sealed_at),
        "key_id": key_id,
        "algorithm": ALGORITHM,
    }


def check_signature_and_link(seal: Seal, keys: dict[str, PublicKey],
                             previous_root: str | None) -> dict[str, Any]:
    """The seal's body, once its signature and its link to the previous seal hold."""
    where = f"seal {seal.number}"
    key = keys.get(seal.key_id)
    if key is None:
        raise VerificationError(where, f"signed by unknown key {seal.key_id!r}")
    if not key.verify(seal.signature, seal.body.encode("utf-8")):
        raise VerificationError(where, "signature does not verify")
    body = parse_body(seal.body, where)
    expected = {"seal": seal.number, "key_id": seal.key_id, "previous_root": previous_root}
    for field, value in expected.items():
        if body.get(field) != value:
            raise VerificationError(where, f"{field} is {body.get(field)!r}, expected {value!r}")
    return body


def check_site_share(body: dict[str, Any], site: str, leaves: list[str]) -> None:
    """The site's records in this seal are exactly these, in this order."""
    where = f"seal {body['seal']}"
    signed = body.get("sites", {}).get(site, {"count": 0, "root": merkle_root([]).hex()})
    if signed["count"] != len(leaves):
        raise VerificationError(
            where, f"holds {signed['count']} records of site {site}, {len(leaves)} given")
    root = merkle_root([bytes.fromhex(leaf) for leaf in leaves]).hex()
    if signed["root"] != root:
        raise VerificationError(
            where, f"site {site}: records do not match the sealed root (changed or reordered)")


def check_seal(seal: Seal, leaves: list[tuple[str, str]], keys: dict[str, PublicKey],
               previous_root: str | None) -> None:
    """Everything about one seal, given all its (site, leaf) members in seal order."""
    body = check_signature_and_link(seal, keys, previous_root)
    where = f"seal {seal.number}"
    if body.get("record_count") != len(leaves):
        raise VerificationError(
            where, f"record_count is {body.get('record_count')}, {len(leaves)} records found")
    whole_root = merkle_root([bytes.fromhex(leaf) for _, leaf in leaves])
    root = whole_root.hex()
    if body.get("root") != root:
        raise VerificationError(where, f"root {body.get('root')} does not match its records ({root})")
    if body.get("sites") != site_roots(leaves, whole_root):
        raise VerificationError(where, "per-site roots do not match its records")


def parse_body(text: str, where: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except ValueError as error:
        raise VerificationError(where, f"body is not JSON: {error}") from None
    if canonical_json(body).decode("utf-8") != text:
        raise VerificationError(where, "body is not in canonical form")
    return body
