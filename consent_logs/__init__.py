"""The consent ledger library.

Append, seal, export, verify and purge consent records. It imports nothing from Flask, so
an auditor can verify an export offline with only this package and the export file.
"""
from consent_logs.canonical import canonical_json, content_hash
from consent_logs.keys import PublicKey, SigningKey
from consent_logs.ledger import Ledger, Seal, VerificationError, check_seal
from consent_logs.merkle import leaf_hash, merkle_root
from consent_logs.schema import LedgerTables, ledger_tables

__all__ = [
    "Ledger", "LedgerTables", "PublicKey", "Seal", "SigningKey", "VerificationError",
    "canonical_json", "check_seal", "content_hash", "leaf_hash", "ledger_tables", "merkle_root",
]
