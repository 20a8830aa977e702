"""Functions run in separate processes by the concurrency test (spawned, so each builds
its own app, engine and connections, exactly as gunicorn workers would)."""
from __future__ import annotations

import time
from pathlib import Path


def write_consents(database_url: str, instance_path: str, site_key: str, count: int) -> list[str]:
    from cmp_server.consent.receipts import record_consent
    from tests.conftest import make_app

    app = make_app(database_url, Path(instance_path))
    ids = []
    with app.app_context():
        for index in range(count):
            action = "accept_all" if index % 2 else "reject_all"
            recorded = record_consent({"site": site_key, "config_version": 1,
                                       "action": action, "language": "en"}, None, "https://shop.example")
            ids.append(recorded.receipt["receipt_id"])
    return ids


def keep_sealing(database_url: str, instance_path: str, expected: int, deadline_s: float) -> int:
    """Seal in small batches, over and over, until every expected record is sealed."""
    from sqlalchemy import func, select

    from cmp_server.platform.extensions import db
    from cmp_server.models import LEDGER_TABLES
    from cmp_server.consent.sealing import seal_now
    from tests.conftest import make_app

    app = make_app(database_url, Path(instance_path))
    seals = 0
    deadline = time.monotonic() + deadline_s
    with app.app_context():
        while time.monotonic() < deadline:
            seals += len(seal_now(batch_size=7))
            sealed = db.session.execute(
                select(func.count()).select_from(LEDGER_TABLES.seal_members)).scalar_one()
            db.session.commit()
            if sealed >= expected:
                return seals
            time.sleep(0.01)
    raise TimeoutError(f"only {sealed} of {expected} records sealed in {deadline_s} s")
