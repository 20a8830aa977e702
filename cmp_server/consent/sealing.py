"""Sealing the ledger with the server's Ed25519 key, and publishing the public keys."""
from __future__ import annotations

from typing import Any

from flask import current_app

from consent_logs import PublicKey, Seal, SigningKey
from cmp_server.platform.extensions import db
from cmp_server.models import ledger

_EXTENSION = "cmp_signing_key"


def signing_key() -> SigningKey:
    """The sealing key from CMP_LEDGER_KEY_FILE, created there (0600) on first use."""
    key = current_app.extensions.get(_EXTENSION)
    if key is None:
        key = SigningKey.load_or_create(current_app.config["CMP_LEDGER_KEY_FILE"])
        current_app.extensions[_EXTENSION] = key
    return key


def seal_now(batch_size: int) -> list[Seal]:
    """Seal everything recorded so far. Safe while consents are being recorded and while
    another sealer runs: see consent_logs.ledger."""
    db.session.commit()  # the sealer works in its own transactions
    return ledger.seal(db.engine, signing_key(), batch_size=batch_size)


def published_keys() -> dict[str, Any]:
    """Every key that ever signed a seal, plus the current one, by key id."""
    keys: dict[str, PublicKey] = {k.key_id: k for k in ledger.public_keys(db.session.connection())}
    current = signing_key().public
    keys.setdefault(current.key_id, current)
    return {"keys": [k.as_json() for k in keys.values()], "current": current.key_id}
