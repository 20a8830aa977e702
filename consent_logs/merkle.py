"""Merkle tree hashes as RFC 9162 (Certificate Transparency v2) defines them:
leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right), and a tree of n
leaves splits at the largest power of two smaller than n."""
from __future__ import annotations

import hashlib
from typing import Sequence


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves. The empty tree's hash is SHA-256 of nothing."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = list(leaves)
    sha256 = hashlib.sha256
    # Bottom-up pairing gives the same root as RFC 9162's recursive split: an odd node at
    # the end of a level is carried up unchanged. (node_hash, inlined: it is most of the work.)
    while len(level) > 1:
        paired = [sha256(b"\x01" + left + right).digest()
                  for left, right in zip(level[0::2], level[1::2])]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]
