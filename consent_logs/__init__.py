"""The consent ledger library.

Append, seal, export, verify and purge consent records. It imports nothing from Flask, so
an auditor can verify an export offline with only this package and the export file.
"""
from consent_logs.canonical import canonical_json, content_hash

__all__ = ["canonical_json", "content_hash"]
