"""The in-process benchmark (bench.threads) must measure consents that were really
recorded, and must refuse to report when the app answered anything else."""
import json

import pytest

from bench.threads import WARM_UP, run_threads
from cmp_server.platform.extensions import db
from cmp_server.models import ledger


def records(app) -> int:
    with app.app_context():
        return ledger.count(db.session.connection())


def consent(site_key: str, version: int) -> bytes:
    return json.dumps({"site": site_key, "config_version": version, "action": "accept_all",
                       "language": "sv"}).encode()


def test_every_consent_it_counts_is_in_the_ledger(app, shop):
    site, version = shop
    before = records(app)
    cost = run_threads(app, "/api/v1/consents", consent(site.key, version.number),
                       threads=3, requests=30, origin="https://shop.example")
    assert records(app) - before == WARM_UP + 30
    assert cost.cpu_us > 0 and cost.rps > 0


def test_a_run_with_requests_not_answered_201_is_refused(app, shop):
    site, _version = shop
    with pytest.raises(RuntimeError, match=r"30 of 30 requests not answered 201"):
        run_threads(app, "/api/v1/consents", consent(site.key, 99), threads=2, requests=30,
                    origin="https://shop.example")
    assert records(app) == 0
