"""Consent analytics: rates from the ledger, impressions from the banner, a chart."""
from __future__ import annotations

import pytest

from cmp_server.consent.receipts import record_consent
from cmp_server.accounts.users import create_user
from tests.conftest import console_login
from tests.support.http import call


@pytest.fixture
def choices(live_server, shop):
    site, _ = shop
    for _ in range(5):  # five showings of the banner
        assert call("POST", f"{live_server}/api/v1/sites/{site.key}/impressions",
                    headers={"Origin": "https://shop.example"}).status == 204
    def choose(action, **extra):
        return record_consent({"site": site.key, "config_version": 1, "action": action,
                               "language": "en", **extra}, None, "https://shop.example")
    first = choose("accept_all")
    choose("reject_all")
    choose("custom", purposes={"analytics": True})
    choose("withdraw", token=first.token)
    return site


def test_rates_grants_and_visitors_who_did_not_choose(app, choices):
    from datetime import datetime, timezone

    from cmp_server.consent.analytics import site_analytics

    result = site_analytics(choices.key, datetime(2000, 1, 1, tzinfo=timezone.utc),
                            datetime(2100, 1, 1, tzinfo=timezone.utc))
    assert result["choices"] == 3 and result["withdrawals"] == 1
    assert result["actions"] == {"accept_all": 1, "reject_all": 1, "custom": 1, "gpc": 0}
    assert result["rates"]["accept_all"] == pytest.approx(1 / 3, abs=1e-3)
    assert result["purposes"]["analytics"] == pytest.approx(2 / 3, abs=1e-3)
    assert result["purposes"]["marketing"] == pytest.approx(1 / 3, abs=1e-3)
    assert result["purposes"]["necessary"] == 1.0
    assert result["vendors"]["facebook"] == pytest.approx(1 / 3, abs=1e-3)
    assert (result["impressions"], result["first_choices"], result["no_choice"]) == (5, 3, 2)
    assert result["no_choice_rate"] == 0.4


def test_the_console_shows_a_chart_and_the_api_the_same_as_json(app, client, choices):
    app.config["SESSION_COOKIE_SECURE"] = False
    create_user({"email": "m@shop.example", "password": "a long enough password", "role": "marketer"})
    console_login(client, "m@shop.example", "a long enough password")
    page = client.get(f"/console/sites/{choices.key}/analytics?from=2000-01-01&to=2100-01-01")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<svg" in html and html.count("<rect") == 5 + 3  # four actions, no-choice, purposes
    assert "Saw the banner without choosing</th><td>2 (40.0 %)" in html
    api = client.get(f"/api/v1/admin/sites/{choices.key}/analytics?from=2000-01-01&to=2100-01-01")
    assert api.json["no_choice"] == 2 and api.json["actions"]["custom"] == 1
    bad = client.get(f"/console/sites/{choices.key}/analytics?from=soon")
    assert bad.status_code == 422


def test_impressions_need_a_published_site(live_server, shop):
    site, _ = shop
    assert call("POST", f"{live_server}/api/v1/sites/nope/impressions").status == 404
    answer = call("POST", f"{live_server}/api/v1/sites/{site.key}/impressions",
                  headers={"Origin": "https://shop.example"})
    assert answer.headers["Access-Control-Allow-Origin"] == "https://shop.example"
