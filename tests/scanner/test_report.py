"""The site scanner's report: matching what a browser saw to the catalogue, and each kind of
finding, on hand-made observations (the browser side is tested in e2e/test_scanner.py)."""
from __future__ import annotations

import tomllib

import pytest
from marshmallow import ValidationError

from cmp_server.sites.catalogue import VendorSchema, load_catalogue
from cmp_server.platform.settings import default_vendors_dir
from cmp_server.scanner.report import (
    VendorIndex, build_report, host_matches, merge_passes, render_text, site_of,
)

SCANNED_AT = "2026-11-24T10:00:00+00:00"
NOW = 1795514400.0  # SCANNED_AT as a timestamp
PAGE = "https://shop.example/"


@pytest.fixture(scope="module")
def vendors():
    catalogue = load_catalogue(default_vendors_dir())
    assert not catalogue.refused
    return catalogue.vendors


def cookie(name, domain="shop.example", days=90, third_party=False, **extra):
    return {"type": "cookie", "name": name, "domain": domain, "path": "/",
            "expires": None if days is None else NOW + days * 86400,
            "host": domain.lstrip("."), "third_party": third_party, "page": PAGE, **extra}


def storage(name, kind="local_storage", **extra):
    return {"type": kind, "name": name, "origin": "https://shop.example", "host": "shop.example",
            "third_party": False, "page": PAGE, **extra}


def request(url, resource_type="script"):
    host = url.split("/")[2]
    return {"type": "request", "host": host, "url": url, "resource_type": resource_type,
            "third_party": True, "page": PAGE}


def observation(**passes):
    return {
        "started_at": SCANNED_AT, "finished_at": SCANNED_AT, "urls": [PAGE], "depth": 1,
        "max_pages": 10, "pages": [PAGE], "errors": [],
        "banners": [{"url": PAGE, "found": True, "site_key": "k", "cmp_origin": "https://cmp"}],
        "passes": {name: {"cookies": [i for i in items if i["type"] == "cookie"],
                          "storage": [i for i in items if i["type"] in ("local_storage", "session_storage")],
                          "requests": [i for i in items if i["type"] == "request"]}
                   for name, items in passes.items()},
    }


def configuration(vendors, *ids):
    return {"site": "k", "version": 3, "vendors": [vendors[i] for i in ids]}


def vendor(report, vendor_id):
    return next(v for v in report["vendors"] if v["id"] == vendor_id)


def kinds(entry):
    return [f["kind"] for f in entry["findings"]]


def test_sites_and_hosts():
    assert site_of("www.shop.example") == "shop.example"
    assert site_of("a.b.shop.co.uk") == "shop.co.uk"
    assert site_of("127.0.0.1") == "127.0.0.1"
    assert site_of("localhost") == "localhost"
    assert site_of("pixel.tracker.localhost") == "tracker.localhost"
    assert host_matches("region1.google-analytics.com", "*.google-analytics.com")
    assert not host_matches("google-analytics.com.evil.example", "*.google-analytics.com")
    assert host_matches("connect.facebook.net", "connect.facebook.net")
    assert not host_matches("xconnect.facebook.net", "connect.facebook.net")


def test_cookies_storage_keys_and_hosts_are_matched_to_catalogue_vendors(vendors):
    index = VendorIndex(vendors.values())
    assert index.vendor_of(cookie("_ga")) == "google-analytics"
    assert index.vendor_of(cookie("_ga_G7XQ2")) == "google-analytics"  # a glob pattern
    assert index.vendor_of(storage("mp_abc_mixpanel")) == "mixpanel"
    assert index.vendor_of(cookie("mp_abc_mixpanel")) == "mixpanel"
    assert index.vendor_of(storage("mp_tab_id_x", "session_storage")) == "mixpanel"
    assert index.vendor_of(storage("_ga")) is None  # _ga is a cookie, not a storage key
    assert index.vendor_of(request("https://connect.facebook.net/en_US/fbevents.js")) == "facebook"
    assert index.vendor_of(request("https://region1.google-analytics.com/g/collect")) == "google-analytics"
    # a cookie the entry does not list, set on the vendor's own host
    assert index.vendor_of(cookie("xs", "www.facebook.com", third_party=True)) == "facebook"
    assert index.vendor_of(cookie("_xq_uid")) is None


def test_passes_are_merged_per_item():
    merged = merge_passes(observation(
        before=[cookie("_fbp"), request("https://connect.facebook.net/a.js")],
        reject=[cookie("_fbp", after_choice="set"),
                request("https://connect.facebook.net/b.gif", "image")],
        accept=[cookie("_fbp", after_choice="kept")],
    )["passes"])
    fbp = next(i for i in merged if i["type"] == "cookie")
    assert fbp["passes"] == ["before", "reject", "accept"]
    assert fbp["after_choice"] == {"reject": "set", "accept": "kept"}
    host = next(i for i in merged if i["type"] == "request")
    assert host["resource_types"] == ["script", "image"]
    assert host["urls"] == ["https://connect.facebook.net/a.js", "https://connect.facebook.net/b.gif"]


def test_before_consent_and_after_rejection(vendors):
    report = build_report(observation(
        before=[cookie("_fbp"), request("https://connect.facebook.net/en_US/fbevents.js"),
                cookie("CraftSessionId", days=None)],
        reject=[cookie("_fbp", after_choice="set"), cookie("CraftSessionId", days=None,
                                                           after_choice="kept")],
        accept=[cookie("_fbp"), cookie("CraftSessionId", days=None)],
        withdraw=[cookie("CraftSessionId", days=None, after_choice="kept")],
    ), vendors.values(), configuration(vendors, "facebook", "craft-cms"))
    facebook = vendor(report, "facebook")
    assert kinds(facebook) == ["before_consent", "after_rejection"]
    before = facebook["findings"][0]["items"]
    assert {i["type"] for i in before} == {"cookie", "request"}
    assert facebook["findings"][1]["items"][0]["after_choice"]["reject"] == "set"
    # strictly necessary: never a finding, whenever it is there
    assert kinds(vendor(report, "craft-cms")) == []
    assert report["summary"]["before_consent"] == 1 and report["summary"]["after_rejection"] == 1
    text = render_text(report)
    assert "Facebook / Meta Pixel (facebook): needs consent, configured" in text
    assert "! before consent: requests to connect.facebook.net (script)" in text
    assert "! after Reject all: cookie _fbp on shop.example/ (first party, until 2027-02-22), " \
           "set after the choice" in text
    assert "Craft CMS (craft-cms): strictly necessary, configured\n  ok: cookie CraftSessionId" in text


def test_after_withdrawal(vendors):
    report = build_report(observation(
        before=[], reject=[],
        accept=[storage("mp_x_mixpanel")],
        withdraw=[storage("mp_x_mixpanel", after_choice="kept")],
    ), vendors.values(), configuration(vendors, "mixpanel"))
    mixpanel = vendor(report, "mixpanel")
    assert kinds(mixpanel) == ["after_withdrawal"]
    assert "! after withdrawal: local storage key mp_x_mixpanel (https://shop.example), " \
           "still there after the choice" in render_text(report)


def test_configured_vendors_never_seen_and_vendors_not_configured(vendors):
    report = build_report(observation(
        before=[], accept=[cookie("_ga"), request("https://connect.facebook.net/x.js")],
    ), vendors.values(), configuration(vendors, "google-analytics", "hotjar"))
    assert kinds(vendor(report, "hotjar")) == ["never_seen"]
    assert kinds(vendor(report, "google-analytics")) == []
    assert kinds(vendor(report, "facebook")) == ["not_configured"]
    assert report["summary"]["never_seen"] == 1
    text = render_text(report)
    assert "Hotjar (hotjar): needs consent, configured\n  ! configured on the site but never seen" in text
    # without a site, nothing is "configured" and nothing is missing
    alone = build_report(observation(before=[cookie("_ga")]), vendors.values())
    assert kinds(vendor(alone, "google-analytics")) == ["before_consent"]
    assert alone["summary"]["never_seen"] == alone["summary"]["not_configured"] == 0


def test_unknown_items_come_with_a_proposed_catalogue_entry_that_validates(vendors):
    report = build_report(observation(
        before=[cookie("_xq_uid", days=30), storage("xq_queue"),
                request("https://cdn.xq-tracker.example/xq.js"),
                request("https://collect.xq-tracker.example/hit", "image"),
                cookie("xqid", ".xq-tracker.example", days=365, third_party=True)],
        reject=[cookie("_xq_uid", days=30, after_choice="set")],
    ), vendors.values())
    owners = {group["owner"]: group for group in report["unknown"]}
    assert set(owners) == {"first party", "xq-tracker.example"}
    assert report["summary"]["unknown"] == 5

    third = tomllib.loads(owners["xq-tracker.example"]["proposal"])
    assert third["id"] == "xq-tracker-example"
    assert third["hosts"] == ["cdn.xq-tracker.example", "collect.xq-tracker.example"]
    assert third["cookies"] == [{"name": "xqid", "storage": "cookie", "domain": ".xq-tracker.example",
                                 "lifetime": 365, "description": third["cookies"][0]["description"]}]
    first = tomllib.loads(owners["first party"]["proposal"])
    assert [(c["name"], c["storage"], c["domain"], c["lifetime"]) for c in first["cookies"]] == [
        ("_xq_uid", "cookie", "first_party", 30), ("xq_queue", "local_storage", "first_party",
                                                   "persistent")]
    assert "after Reject all (set after the choice)" in first["cookies"][0]["description"]
    for proposal in (first, third):
        # refused while a TODO would reach visitors, and only for those
        with pytest.raises(ValidationError) as refused:
            VendorSchema().load(proposal)
        assert set(refused.value.messages) == {"company", "cookies", "description"}
        completed = tomllib.loads(owners["first party" if proposal is first else "xq-tracker.example"]
                                  ["proposal"].replace("TODO", "Filled in"))
        VendorSchema().load(completed)  # raises if the catalogue would refuse it
        assert set(proposal["purposes"]) <= set(load_catalogue(default_vendors_dir()).purposes)
    text = render_text(report)
    assert "Unknown to the catalogue\n  first party:\n    ? cookie _xq_uid" in text
    assert '      id = "xq-tracker-example"' in text


def test_a_page_without_the_banner(vendors):
    seen = observation(before=[cookie("_ga")])
    seen["banners"][0].update(found=False, site_key=None, cmp_origin=None)
    report = build_report(seen, vendors.values())
    assert report["passes"] == ["before"]
    assert "Banner on https://shop.example/: not found; only the first pass (no choice) was made" \
        in render_text(report)
