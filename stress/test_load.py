"""Load: the consent POST under gunicorn with the production settings, at rising rates
for fixed periods, on SQLite and on PostgreSQL, driven by wrk from a second process on
loopback; then every 201 reconciled with the ledger, which seals and verifies."""
from __future__ import annotations

import pytest

from bench.load import recorded_ids, run_wrk
from stress.platform import Platform
from tests.conftest import ENGINES

pytestmark = pytest.mark.stress
CONNECTIONS = 16


@pytest.mark.parametrize("engine", ENGINES)
def test_consents_at_rising_rates_reconcile_with_the_ledger(engine, profile, figures, tmp_path,
                                                           answers):
    with Platform(engine, tmp_path) as platform:
        for rate in profile.load_rates:
            result = run_wrk(platform.consents_url, profile.load_seconds, CONNECTIONS,
                             method="POST", body=platform.consent_body(),
                             headers=platform.consent_headers,
                             many_clients=True, rate=rate, record_dir=answers)
            figures.add("load", f"consent POST, {engine}, {rate}/s offered for "
                        f"{profile.load_seconds} s",
                        f"{result.rps:,.0f} req/s; p50 {result.p50_ms:.1f} ms, "
                        f"p99 {result.p99_ms:.1f} ms; {result.errors} errors")
            assert result.errors == 0, f"{result.errors} failed requests at {rate}/s"
        acknowledged = recorded_ids(answers)
        stored = platform.ledger_ids()
        served = platform.answered("POST /api/v1/consents", 201)
        assert len(acknowledged) == len(set(acknowledged))
        assert set(acknowledged) <= stored  # every 201 wrk read is in the ledger
        assert len(stored) == served        # every record was answered 201
        # the difference: answers in flight when wrk's time was up, never read
        assert len(stored) - len(acknowledged) <= CONNECTIONS * len(profile.load_rates)
        assert platform.seal_and_verify() == len(stored)
    figures.add("load", f"reconciliation, {engine}",
                f"{len(stored):,} ledger records = {served:,} answers 201 in the server's "
                f"log, {len(acknowledged):,} of them read by wrk and each found; "
                f"sealed and verified")
