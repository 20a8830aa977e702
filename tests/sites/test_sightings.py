"""Is the tag on the site? The console's embed page shows, per registered origin, when the
banner last asked a visitor there, and the few unregistered origins whose pages asked for
it and were refused; strangers cannot fill that list or forge a registered sighting."""
from __future__ import annotations

import re

import pytest

from cmp_server.platform.extensions import db
from cmp_server.accounts.users import create_user
from cmp_server.models import BannerSighting
from cmp_server.sites import sightings
from cmp_server.sites.registry import update_site
from tests.conftest import console_login

PASSWORD = "a long enough password"


@pytest.fixture
def marketer(app, shop):
    app.config["SESSION_COOKIE_SECURE"] = False
    create_user({"email": "m@shop.example", "password": PASSWORD, "role": "marketer"})
    client = app.test_client()
    console_login(client, "m@shop.example", PASSWORD)
    return client


def origins_table(marketer, site) -> dict[str, tuple[str, str]]:
    """The embed page's origins: {origin: (registered, seen)}."""
    page = marketer.get(f"/console/sites/{site.key}/embed").get_data(as_text=True)
    return {origin: (registered, seen) for origin, seen, registered in re.findall(
        r'data-origin="([^"]+)" data-seen="(\w+)" data-registered="(\w+)"', page)}


def test_the_embed_page_says_where_the_banner_asked_and_where_it_was_refused(app, shop, marketer):
    site, _ = shop
    update_site(site, {"origins": ["https://shop.example", "https://www.shop.example"]})
    assert origins_table(marketer, site) == {"https://shop.example": ("yes", "no"),
                                             "https://www.shop.example": ("yes", "no")}
    visitor = app.test_client()
    shown = visitor.post(f"/api/v1/sites/{site.key}/impressions",
                         headers={"Origin": "https://shop.example"})
    assert shown.status_code == 204
    refused = visitor.get(f"/api/v1/sites/{site.key}/banner",
                          headers={"Origin": "https://staging.shop.example"})
    assert refused.status_code == 403
    assert origins_table(marketer, site) == {"https://shop.example": ("yes", "yes"),
                                             "https://www.shop.example": ("yes", "no"),
                                             "https://staging.shop.example": ("no", "yes")}
    page = marketer.get(f"/console/sites/{site.key}/embed").get_data(as_text=True)
    assert "asked for it on" in page and "Anyone can make an origin appear here" in page
    # registered later, the origin keeps when it was seen
    update_site(site, {"origins": ["https://shop.example", "https://staging.shop.example"]})
    assert origins_table(marketer, site)["https://staging.shop.example"] == ("yes", "yes")


def test_strangers_cannot_fill_the_list(app, shop, marketer, monkeypatch):
    site, _ = shop
    visitor = app.test_client()
    # one refused origin written a minute per site and process, decided before the
    # database: rotating origins does not make each refused GET write
    for n in range(5):
        visitor.get(f"/api/v1/sites/{site.key}/banner", headers={"Origin": f"https://a{n}.example"})
    assert db.session.execute(db.select(BannerSighting.origin)).scalars().all() == ["https://a0.example"]
    # and at most MAX_REFUSED a site, the newest kept
    monkeypatch.setattr(sightings, "REFUSED_WRITE_SECONDS", 0)
    for n in range(sightings.MAX_REFUSED + 5):
        visitor.get(f"/api/v1/sites/{site.key}/banner", headers={"Origin": f"https://spam{n}.example"})
    for junk in ("null", "https://x.example/<script>", "https://" + "a" * 300 + ".example",
                 "javascript:alert(1)"):
        visitor.get(f"/api/v1/sites/{site.key}/banner", headers={"Origin": junk})
    visitor.get("/api/v1/sites/no-such-site/banner", headers={"Origin": "https://spam.example"})
    stored = db.session.execute(db.select(BannerSighting.site_key, BannerSighting.origin)).all()
    assert len(stored) == sightings.MAX_REFUSED
    assert {key for key, _ in stored} == {site.key}
    assert all(re.fullmatch(r"https://spam\d+\.example", origin) for _, origin in stored)
    assert "https://spam14.example" in {origin for _, origin in stored}  # the newest stay
    # an impression needs a registered Origin: nobody forges a "seen" for the site
    forged = visitor.post(f"/api/v1/sites/{site.key}/impressions",
                          headers={"Origin": "https://spam3.example"})
    assert forged.status_code == 403
    assert origins_table(marketer, site)["https://shop.example"] == ("yes", "no")
