"""Canonical JSON: one byte string per value, so its hash is reproducible anywhere.

Sorted keys, no insignificant whitespace, UTF-8 without ASCII escaping, and no NaN or
infinity (JSON has no spelling for them, so they are refused rather than guessed).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def content_hash(value: Any) -> str:
    """``sha256:<hex>`` of the canonical JSON of ``value``."""
    return "sha256:" + hashlib.sha256(canonical_json(value)).hexdigest()
