"""Consents and their proof: receipts and tokens, the stale-receipt sync, retention, sealing, proof bundles, data subjects, analytics."""
