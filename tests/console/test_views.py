"""A marketer's console pages: find vendors, edit the draft and its texts, publish."""
from __future__ import annotations

import base64
import json
import re
from html import unescape

import pytest

from cmp_server.platform.extensions import db
from cmp_server.models import AuditEvent
from cmp_server.sites.registry import create_site
from cmp_server.accounts.users import create_user
from tests.conftest import SHOP, console_login


@pytest.fixture
def marketer(app, client, catalogue):
    app.config["SESSION_COOKIE_SECURE"] = False
    create_user({"email": "m@shop.example", "password": "a long enough password", "role": "marketer"})
    console_login(client, "m@shop.example", "a long enough password")
    with client.session_transaction() as session:
        client.csrf = session["csrf"]
    return client


def test_the_catalogue_is_searchable_by_name_and_purpose(marketer):
    by_name = marketer.get("/console/catalogue?q=google").get_data(as_text=True)
    assert 'data-vendor="google-analytics"' in by_name and 'data-vendor="mixpanel"' not in by_name
    by_purpose = marketer.get("/console/catalogue?purpose=marketing").get_data(as_text=True)
    assert 'data-vendor="facebook"' in by_purpose and 'data-vendor="hotjar"' not in by_purpose
    assert "Enterprise" in marketer.get("/console/catalogue?q=piwik").get_data(as_text=True)


def save(marketer, site, language="en", **fields):
    data = {"csrf_token": marketer.csrf, "language": language, **fields}
    return marketer.post(f"/console/sites/{site.key}/draft", data=data)


def test_a_marketer_edits_translates_and_publishes(marketer, client):
    site = create_site(SHOP)
    answer = save(marketer, site, vendor=["mixpanel", "piwik-pro"], **{
        "tier-piwik-pro": "enterprise", "text-title": "Your choices", "text-intro": "Hello",
        "theme-accent": "#0a6b2d", "region_rules": "US-CA=opt-out\n"})
    assert answer.status_code == 302
    save(marketer, site, language="sv", vendor=["mixpanel", "piwik-pro"],
         **{"tier-piwik-pro": "enterprise", "text-title": "Dina val"})
    db.session.expire_all()
    assert site.draft.texts == {"en": {"title": "Your choices", "intro": "Hello"},
                                "sv": {"title": "Dina val"}}
    page = marketer.get(f"/console/sites/{site.key}/draft?language=sv").get_data(as_text=True)
    # noted: English rewrote the introduction, Swedish did not
    assert "visitors here see the banner's wording: Introduction." in page
    assert 'value="Dina val"' in page and "data-site=" in page
    assert 'placeholder="Avvisa alla"' in page  # the built-in Swedish wording, shown greyed
    summary = marketer.get(f"/console/sites/{site.key}/publish").get_data(as_text=True)
    assert "yes: the new version" in summary
    rows = change_rows(summary)
    assert ("Vendor added", "(not there)", "Mixpanel") in rows
    assert ("Vendor added", "(not there)", "Piwik PRO Analytics Suite") in rows
    assert ("Purpose asked about", "(not there)", "Analytics") in rows
    assert ("Text (sv): Heading", "the banner's own wording", "Dina val") in rows
    assert ("Consent lasts", "(not there)", "12 months") in rows
    done = marketer.post(f"/console/sites/{site.key}/publish", data={"csrf_token": marketer.csrf})
    assert "Version 1 is live" in done.get_data(as_text=True)
    banner = client.get(f"/api/v1/sites/{site.key}/banner?lang=sv").json
    assert banner["texts"] == {"title": "Dina val"}
    assert [v["id"] for v in banner["vendors"]] == ["mixpanel", "piwik-pro"]
    assert banner["vendors"][1]["retention_months"] == 25


def change_rows(html: str) -> list[tuple[str, str, str]]:
    """The rows of a page's before/after table, as text."""
    import re

    rows = re.findall(r'<tr><th scope="row">(.*?)</th>\s*<td>(.*?)</td>\s*<td>(.*?)</td></tr>',
                      html, re.DOTALL)
    text = lambda cell: unescape(re.sub(r"<[^>]+>", "", cell)).strip()  # noqa: E731
    return [(text(a), text(b), text(c)) for a, b, c in rows]


def test_the_history_shows_each_version_and_a_rollback_publishes_an_earlier_one(marketer, client):
    from cmp_server.models import AuditEvent

    site = create_site(SHOP)
    save(marketer, site, vendor=["mixpanel"], **{"text-title": "First title"})
    marketer.post(f"/console/sites/{site.key}/publish", data={"csrf_token": marketer.csrf})
    save(marketer, site, vendor=["mixpanel", "facebook"], **{"text-title": "Second title"})
    marketer.post(f"/console/sites/{site.key}/publish", data={"csrf_token": marketer.csrf})
    history = marketer.get(f"/console/sites/{site.key}/versions").get_data(as_text=True)
    assert history.index('id="version-2"') < history.index('id="version-1"')  # newest first
    assert ("Text (en): Heading", "First title", "Second title") in change_rows(history)
    assert ("Vendor added", "(not there)", "Facebook / Meta Pixel") in change_rows(history)
    # rolling back to version 1: what it would change, then a new version with its content
    url = f"/console/sites/{site.key}/versions/1/rollback"
    confirm = marketer.get(url).get_data(as_text=True)
    assert ("Vendor removed", "Facebook / Meta Pixel", "(gone)") in change_rows(confirm)
    assert ("Text (en): Heading", "Second title", "First title") in change_rows(confirm)
    done = marketer.post(url, data={"csrf_token": marketer.csrf})
    assert done.status_code == 302 and done.location.endswith("/versions?rolled=3")
    banner = client.get(f"/api/v1/sites/{site.key}/banner").json
    assert banner["version"] == 3 and banner["texts"]["title"] == "First title"
    assert [v["id"] for v in banner["vendors"]] == ["mixpanel"]
    db.session.expire_all()
    assert [v.vendor_id for v in site.draft.vendors] == ["mixpanel"]  # the draft follows
    assert db.session.query(AuditEvent).filter_by(action="config.rollback").count() == 1
    assert marketer.get(f"/console/sites/{site.key}/versions/9/rollback").status_code == 422


def test_a_bad_draft_is_refused_and_changes_nothing(marketer):
    site = create_site(SHOP)
    save(marketer, site, vendor=["mixpanel"])
    bad = save(marketer, site, vendor=["mixpanel", "facebook"],
               **{"theme-accent": "teal-ish", "text-title": "Kept as typed"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422
    # beside the field, saying what is valid; what was typed is still there
    assert error_of(html, "theme-accent") == ("'teal-ish' is not a valid accent: use a colour "
                                              "like #1d4ed8")
    assert 'value="teal-ish"' in html and 'value="Kept as typed"' in html
    assert 'id="vendor-facebook" checked' in html
    db.session.expire_all()
    assert [v.vendor_id for v in site.draft.vendors] == ["mixpanel"]
    rules = save(marketer, site, vendor=["mixpanel"], region_rules="DE=none")
    assert rules.status_code == 422 and "requires opt-in" in error_of(
        rules.get_data(as_text=True), "region_rules")


def error_of(html: str, field: str) -> str:
    """The error shown beside a form field."""
    import re

    found = re.search(rf'<span class="field-error" id="{field}-error">([^<]*)</span>', html)
    assert found, f"no error beside {field}"
    return found.group(1).replace("&#39;", "'")


@pytest.mark.parametrize("theme, field, what", [
    ({"theme-bg": "#ffffff", "theme-fg": "#dddddd"}, "theme-fg", "the banner's text"),
    ({"theme-accent": "#ffff00"}, "theme-accent", "the white button text"),
    ({"theme-bg": "#000000"}, "theme-fg", "the banner's text"),  # the default text on black
    ({"theme-link": "#9999ff"}, "theme-link", "links"),
    ({"theme-dark-bg": "#f0f0f0"}, "theme-dark-fg", "the dark banner's text"),
    ({"theme-dark-accent": "#9ecbff"}, "theme-dark-accent", "the white button text on the dark"),
])
def test_an_unreadable_colour_pair_is_refused(marketer, theme, field, what):
    site = create_site(SHOP)
    refused = save(marketer, site, vendor=["mixpanel"], **theme)
    assert refused.status_code == 422
    message = error_of(refused.get_data(as_text=True), field)
    assert message.startswith(what[:1].upper() + what[1:]) and "needs at least" in message
    db.session.expire_all()
    assert site.draft.theme == {}


def test_a_layout_and_dark_mode_are_chosen_from_named_values(marketer):
    site = create_site(SHOP)
    page = marketer.get(f"/console/sites/{site.key}/draft").get_data(as_text=True)
    assert '<option value="bar-top" >A bar along the top</option>' in page
    assert "Dark when the visitor&#39;s system is set to dark" in page
    chosen = {"theme-layout": "bar-top", "theme-scheme": "auto", "theme-dark-bg": "#101820"}
    assert save(marketer, site, vendor=["mixpanel"], **chosen).status_code == 302
    db.session.expire_all()
    assert site.draft.theme == {"layout": "bar-top", "scheme": "auto", "dark-bg": "#101820"}
    # the preview's dark page shows the banner as a visitor in dark mode sees it
    config, _ = posted_preview(marketer, site, vendor=["mixpanel"], preview_scheme="dark", **chosen)
    assert config["theme"]["scheme"] == "dark"
    refused = save(marketer, site, vendor=["mixpanel"], **{"theme-layout": "sideways"})
    assert error_of(refused.get_data(as_text=True), "theme-layout").startswith(
        "'sideways' is not a valid layout: use one of box, box-left, box-right")


def test_a_readable_theme_is_saved(marketer):
    site = create_site(SHOP)
    theme = {"theme-bg": "#101820", "theme-fg": "#f2f2f2", "theme-link": "#8ab4f8",
             "theme-accent": "#0a6b2d", "theme-focus": "#ffd166", "theme-radius": "4px"}
    assert save(marketer, site, vendor=["mixpanel"], **theme).status_code == 302
    db.session.expire_all()
    assert site.draft.theme == {key[6:]: value for key, value in theme.items()}


def test_the_preview_serves_the_unpublished_draft(marketer):
    site = create_site(SHOP)
    save(marketer, site, vendor=["hotjar"], **{"text-title": "Draft title"})
    config = marketer.get(f"/console/sites/{site.key}/preview.json?lang=de").json
    assert [v["id"] for v in config["vendors"]] == ["hotjar"]
    assert config["version"] == 0 and config["mode"] == "opt-in" and config["language"] == "de"
    page = marketer.get(f"/console/sites/{site.key}/preview?lang=sv").get_data(as_text=True)
    assert 'lang="sv"' in page and "data-preview" in page
    assert f"/console/sites/{site.key}/preview.json?lang=sv" in page
    draft = marketer.get(f"/console/sites/{site.key}/draft").get_data(as_text=True)
    assert 'name="cmp-preview"' in draft and f'src="/console/sites/{site.key}/preview?lang=en"' in draft


def posted_preview(marketer, site, **fields) -> tuple[dict, str]:
    """The live preview of a draft form that was not saved: its banner configuration (read
    from the page's data: URL, as the banner reads it) and the page."""
    answer = marketer.post(f"/console/sites/{site.key}/preview",
                           data={"csrf_token": marketer.csrf, **fields})
    assert answer.status_code == 200
    assert "connect-src 'self' data:" in answer.headers["Content-Security-Policy"]
    page = answer.get_data(as_text=True)
    encoded = re.search(r'data-config="data:application/json;base64,([^"]+)"', page).group(1)
    return json.loads(base64.b64decode(encoded)), page


def test_the_live_preview_shows_what_was_typed_and_saves_nothing(marketer):
    site = create_site(SHOP)
    save(marketer, site, vendor=["hotjar"], **{"text-title": "Saved title", "theme-accent": "#0a6b2d"})
    db.session.expire_all()
    saved_draft, events = site.draft.texts, db.session.query(AuditEvent).count()
    config, page = posted_preview(marketer, site, language="sv", vendor=["hotjar", "mixpanel"],
                                  preview_language="sv", preview_layer="settings",
                                  preview_scheme="dark", **{"text-title": "Osparad rubrik",
                                                            "theme-accent": "#5a1f8a"})
    assert config["language"] == "sv" and config["texts"] == {"title": "Osparad rubrik"}
    assert [v["id"] for v in config["vendors"]] == ["hotjar", "mixpanel"]
    assert config["theme"]["accent"] == "#5a1f8a"
    assert 'data-layer="settings"' in page and 'class="dark"' in page and 'lang="sv"' in page
    assert "Not in this preview" not in page
    db.session.expire_all()
    assert site.draft.texts == saved_draft and [v.vendor_id for v in site.draft.vendors] == ["hotjar"]
    assert db.session.query(AuditEvent).count() == events


def test_the_live_preview_leaves_out_what_would_be_refused_and_says_so(marketer):
    site = create_site(SHOP)
    save(marketer, site, vendor=["hotjar"], **{"theme-accent": "#0a6b2d"})
    config, page = posted_preview(marketer, site, language="en", vendor=["hotjar", "no-such-vendor"],
                                  **{"theme-accent": "#ffff00", "text-title": "New title"})
    assert config["theme"]["accent"] == "#0a6b2d"  # the saved one: yellow on white is unreadable
    assert [v["id"] for v in config["vendors"]] == ["hotjar"]
    assert config["texts"] == {"title": "New title"}
    assert "Not in this preview until corrected: Buttons and switches, Vendors." in unescape(page)


def test_a_marketer_creates_and_edits_a_site(marketer):
    from cmp_server.models import Site

    form = {"csrf_token": marketer.csrf, "name": "New shop", "origins": "https://new.example\n",
            "consent_lifetime_months": "13", "refusal_lifetime_months": "6",
            "default_language": "sv", "controller_name": "New AB",
            "controller_address": "Gatan 1", "controller_country": "SE",
            "controller_email": "p@new.example", "privacy_policy_url": "https://new.example/p"}
    created = marketer.post("/console/sites/new", data=form)
    site = db.session.query(Site).filter_by(name="New shop").one()
    # the next step: getting the banner onto the site
    assert created.location.endswith(f"/console/sites/{site.key}/embed?created=1")
    steps = marketer.get(created.location).get_data(as_text=True)
    assert steps.count('data-done="yes"') == 1 and steps.count('data-done="no"') == 4
    assert "https://new.example" in steps and f'data-site="{site.key}"' in unescape(steps)
    assert (site.origin_list, site.consent_lifetime_months, site.controller["name"]) == (
        ["https://new.example"], 13, "New AB")
    bad = marketer.post(f"/console/sites/{site.key}/settings", data={
        **form, "consent_lifetime_months": "24", "origins": "https://new.example\nacme.example",
        "controller_email": "nobody", "name": "Renamed shop"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert error_of(html, "consent_lifetime_months") == "Must be between 1 and 13 months"
    assert error_of(html, "origins").startswith("Line 2: ")
    assert error_of(html, "controller_email") == "Write an e-mail address, like privacy@example.com."
    assert 'href="#origins"' in html  # the summary at the top links to each field
    assert 'value="Renamed shop"' in html and "acme.example</textarea>" in html
    db.session.expire_all()
    assert (site.name, site.consent_lifetime_months) == ("New shop", 13)


def test_the_site_switcher_goes_to_the_chosen_site(marketer, client):
    site = create_site(SHOP)
    page = marketer.get("/console/").get_data(as_text=True)
    assert f'<option value="{site.key}">Shop</option>' in page
    went = marketer.get(f"/console/go?site={site.key}")
    assert went.status_code == 302 and went.location.endswith(f"/console/sites/{site.key}/draft")
    assert marketer.get("/console/go?site=nobodys-site").status_code == 404


def test_the_consoles_stylesheet_and_script_are_files_of_its_origin(marketer):
    page = marketer.get("/console/").get_data(as_text=True)
    assert "<style" not in page and "<script>" not in page  # the CSP allows files only
    with marketer.get("/console/static/console.css") as css:
        assert css.status_code == 200 and css.mimetype == "text/css"
        assert "no-store" not in css.headers.get("Cache-Control", "")
    with marketer.get("/console/static/console.js") as script:
        assert script.mimetype in ("text/javascript", "application/javascript")


def test_the_custom_vendor_form_starts_from_a_template_refused_until_completed(marketer):
    page = marketer.get("/console/vendors/new").get_data(as_text=True)
    template = unescape(page.split('name="toml"', 1)[1].split(">", 1)[1].split("</textarea>")[0])
    assert 'id = "our-vendor"' in template and "[description]" in template
    as_it_is = marketer.post("/console/vendors/new", data={"csrf_token": marketer.csrf,
                                                            "toml": template})
    assert as_it_is.status_code == 422 and "TODO" in as_it_is.get_data(as_text=True)
    completed = template.replace("TODO_cookie_name", "our_id").replace("TODO: ", "Filled in ")
    added = marketer.post("/console/vendors/new", data={"csrf_token": marketer.csrf,
                                                        "toml": completed})
    assert added.status_code == 302


def test_a_marketer_adds_a_custom_vendor_in_the_catalogue_format(marketer):
    from cmp_server.platform.settings import default_vendors_dir
    from cmp_server.models import Vendor

    source = (default_vendors_dir() / "hotjar.toml").read_text()
    source = source.replace('id = "hotjar"', 'id = "our-heatmaps"', 1).replace(
        'name = "Hotjar"', 'name = "Our heatmaps"', 1)
    added = marketer.post("/console/vendors/new", data={"csrf_token": marketer.csrf, "toml": source})
    assert added.status_code == 302
    assert db.session.get(Vendor, "our-heatmaps").source == "custom"
    broken = marketer.post("/console/vendors/new", data={
        "csrf_token": marketer.csrf, "toml": source.replace('legal_basis = "consent"', 'legal_basis = "x"')})
    assert broken.status_code == 422 and "legal_basis" in broken.get_data(as_text=True)
    garbled = marketer.post("/console/vendors/new", data={"csrf_token": marketer.csrf, "toml": "id ="})
    assert garbled.status_code == 422 and "Not valid TOML" in garbled.get_data(as_text=True)


def test_a_marketer_makes_and_revokes_a_collection_token_for_the_sites_server(marketer, shop):
    import re

    from cmp_server.consent.receipts import OriginRefused, record_consent

    site, _ = shop
    url = f"/console/sites/{site.key}/collection-tokens"
    page = marketer.post(url, data={"csrf_token": marketer.csrf, "name": "account settings"})
    html = page.get_data(as_text=True)
    secret = re.search(r'<code id="new-token">(cmpc_[^<]+)</code>', html).group(1)
    assert "Collection tokens of Shop" in html
    body = {"site": site.key, "config_version": 1, "action": "accept_all", "language": "en"}
    recorded = record_consent(body, None, None, f"Bearer {secret}")
    assert recorded.receipt["collection_method"] == "api"
    token_id = re.search(r'name="revoke" value="(\d+)"', html).group(1)
    marketer.post(url, data={"csrf_token": marketer.csrf, "revoke": token_id})
    with pytest.raises(OriginRefused):
        record_consent(body, None, None, f"Bearer {secret}")


def test_google_consent_mode_is_set_in_the_draft_and_shown_before_publishing(marketer, client):
    site = create_site(SHOP)
    page = marketer.get(f"/console/sites/{site.key}/draft").get_data(as_text=True)
    assert "<td><code>analytics_storage</code></td><td>Analytics</td>" in page  # the mapping
    assert "<td><code>security_storage</code></td><td>Strictly necessary (always)</td>" in page
    form = {"gcm-mode": "advanced", "gcm-ads_data_redaction": "on", "region_rules": "US=none\n"}
    assert save(marketer, site, vendor=["google-analytics", "mixpanel"], **form).status_code == 302
    db.session.expire_all()
    assert site.draft.google_consent_mode == {"mode": "advanced", "ads_data_redaction": True}
    rows = change_rows(marketer.get(f"/console/sites/{site.key}/publish").get_data(as_text=True))
    assert ("Google Consent Mode", "basic", "advanced") in rows
    assert ("Google ads data redaction", "off", "on") in rows
    marketer.post(f"/console/sites/{site.key}/publish", data={"csrf_token": marketer.csrf})
    config = client.get(f"/api/v1/sites/{site.key}/banner").json["google_consent_mode"]
    assert config == {"mode": "advanced", "ads_data_redaction": True, "url_passthrough": False,
                      "granted_regions": ["US"], "vendors": ["google-analytics"]}
    refused = save(marketer, site, vendor=["mixpanel"], **{"gcm-mode": "sideways"})
    assert error_of(refused.get_data(as_text=True), "gcm-mode") == "Must be one of: basic, advanced"


@pytest.mark.parametrize("rules, granted", [
    ({"US": "none", "US-CA": "opt-out", "default": "opt-out"}, ["US", "US-CA"]),
    # an opt-in state: its country is not granted as a whole (gtag would apply it there)
    ({"US": "opt-out", "US-CA": "opt-in", "US-TX": "none"}, ["US-TX"]),
    ({"CH": "opt-in", "BR": "none"}, ["BR"]),
])
def test_region_defaults_grant_only_where_nobody_is_asked_first(rules, granted):
    from cmp_server.sites.google_consent_mode import granted_regions

    assert granted_regions(rules) == granted
