"""The consent ledger library.

Append, seal, export, verify and purge consent records. It imports nothing from Flask, so
an auditor can verify an export offline (``python -m consent_logs verify BUNDLE``); the
verifier needs only this package's pure modules and ``cryptography``. The database side
(``consent_logs.ledger``, ``consent_logs.schema``, and the write path
``consent_logs.group_commit`` and ``consent_logs.writer``) uses SQLAlchemy and is imported
explicitly by whoever stores records.
"""
from consent_logs.canonical import canonical_json, content_hash
from consent_logs.keys import PublicKey, SigningKey
from consent_logs.merkle import leaf_hash, merkle_root
from consent_logs.seals import Seal, VerificationError, check_seal

__all__ = [
    "PublicKey", "Seal", "SigningKey", "VerificationError", "canonical_json", "check_seal",
    "content_hash", "leaf_hash", "merkle_root",
]
