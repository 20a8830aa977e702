"""Consent analytics: rates from the ledger, impressions from the banner, a chart."""
from __future__ import annotations

import re

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


def test_the_console_draws_each_measure_apart_by_name_and_the_api_the_same_as_json(
        app, client, choices):
    from datetime import datetime, timedelta, timezone

    app.config["SESSION_COOKIE_SECURE"] = False
    create_user({"email": "m@shop.example", "password": "a long enough password", "role": "marketer"})
    console_login(client, "m@shop.example", "a long enough password")
    today = datetime.now(timezone.utc).date()
    period = f"from={today - timedelta(days=6)}&to={today}"  # a week, both ends included
    page = client.get(f"/console/sites/{choices.key}/analytics?{period}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    charts = re.findall(r'<figure class="card" id="chart-([a-z-]+)"><h2>([^<]+)</h2><svg', html)
    assert charts == [("choice-mix", "How visitors chose"), ("reach", "How far the banner got"),
                      ("purposes", "Grant rate per purpose"), ("vendors", "Grant rate per vendor"),
                      ("trend", "Each day")]
    chart = {name: html.split(f'id="chart-{name}"')[1].split("</figure>")[0] for name, _ in charts}
    assert "Accepted all: 33.3% (1)" in chart["choice-mix"]
    assert "Left without choosing" in chart["reach"] and ">2<" in chart["reach"]
    assert ">Analytics<" in chart["purposes"] and "necessary" not in chart["purposes"].lower()
    assert ">Facebook / Meta Pixel<" in chart["vendors"] and "facebook<" not in chart["vendors"]
    assert chart["trend"].count("<title>") == 2 * 7  # shown and choices, each day of the week
    assert " %" not in html and "2 (40.0% of those shown)" in html  # one way to write a share
    csv = client.get(f"/console/sites/{choices.key}/analytics.csv?{period}")
    lines = csv.get_data(as_text=True).splitlines()
    assert csv.mimetype == "text/csv" and len(lines) == 1 + 7
    assert lines[0] == "day,shown,choices,accept_all,reject_all,custom,gpc,withdrawals"
    assert lines[-1] == f"{today},5,3,1,1,1,0,1"
    api = client.get(f"/api/v1/admin/sites/{choices.key}/analytics?from=2000-01-01&to=2100-01-01")
    assert api.json["no_choice"] == 2 and api.json["actions"]["custom"] == 1
    assert api.json["days"] == [{"day": today.isoformat(), "shown": 5, "choices": 3, "accept_all": 1,
                                 "reject_all": 1, "custom": 1, "gpc": 0, "withdrawals": 1}]
    assert client.get(f"/console/sites/{choices.key}/analytics?from=soon").status_code == 422
    too_long = client.get(f"/console/sites/{choices.key}/analytics?from=2000-01-01&to=2100-01-01")
    assert too_long.status_code == 422 and "at most 366 days" in too_long.get_data(as_text=True)


def test_impressions_need_a_published_site(live_server, shop):
    site, _ = shop
    assert call("POST", f"{live_server}/api/v1/sites/nope/impressions").status == 404
    answer = call("POST", f"{live_server}/api/v1/sites/{site.key}/impressions",
                  headers={"Origin": "https://shop.example"})
    assert answer.headers["Access-Control-Allow-Origin"] == "https://shop.example"
