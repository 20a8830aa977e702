"""Drafts, publishing, immutable versions and their diff."""
from __future__ import annotations

import pytest

from consent_logs import content_hash
from cmp_server.sites import versions
from cmp_server.platform.errors import ServiceError
from cmp_server.platform.extensions import db
from cmp_server.models import AuditEvent, ConfigVersion, Vendor
from cmp_server.sites.registry import create_site
from tests.conftest import SHOP


@pytest.fixture
def site(app, catalogue):
    return create_site(SHOP)


def test_publishing_freezes_the_draft_under_its_hash(site):
    versions.set_draft_vendors(site, [("google-analytics", None), ("craft-cms", None)])
    version, changes = versions.publish(site, "tester")
    db.session.expire_all()
    stored = db.session.get(ConfigVersion, version.id)
    assert stored.number == 1
    # the hash is reproducible from the stored content, whichever engine stored it
    assert stored.content_hash == content_hash(stored.content)
    assert [v["id"] for v in stored.content["vendors"]] == ["google-analytics", "craft-cms"]
    assert [p["id"] for p in stored.content["purposes"]] == ["necessary", "analytics"]
    assert changes["vendors_added"] == ["craft-cms", "google-analytics"]
    assert changes["asks_again"] is True


def test_publishing_an_unchanged_draft_makes_no_new_version(site):
    versions.set_draft_vendors(site, [("mixpanel", None)])
    first, _ = versions.publish(site)
    again, changes = versions.publish(site)
    assert again.id == first.id
    assert changes["vendors_added"] == [] and changes["asks_again"] is False
    assert db.session.query(ConfigVersion).count() == 1


def test_adding_a_consent_vendor_asks_again_and_removing_one_does_not(site):
    versions.set_draft_vendors(site, [("mixpanel", None)])
    versions.publish(site)
    versions.set_draft_vendors(site, [("mixpanel", None), ("facebook", None)])
    second, added = versions.publish(site)
    versions.set_draft_vendors(site, [("facebook", None)])
    third, removed = versions.publish(site)
    assert (second.number, third.number) == (2, 3)
    assert added["vendors_added"] == ["facebook"] and added["purposes_added"] == ["marketing"]
    assert added["asks_again"] is True
    assert removed["vendors_removed"] == ["mixpanel"] and removed["asks_again"] is False


def test_adding_a_strictly_necessary_vendor_does_not_ask_again(site):
    versions.set_draft_vendors(site, [("mixpanel", None)])
    versions.publish(site)
    versions.set_draft_vendors(site, [("mixpanel", None), ("craft-cms", None)])
    _version, changes = versions.publish(site)
    assert changes["vendors_added"] == ["craft-cms"] and changes["asks_again"] is False


def test_a_later_catalogue_edit_does_not_change_a_published_version(site):
    versions.set_draft_vendors(site, [("mixpanel", None)])
    version, _ = versions.publish(site)
    vendor = db.session.get(Vendor, "mixpanel")
    vendor.document = {**vendor.document, "name": "Renamed"}
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(ConfigVersion, version.id).content["vendors"][0]["name"] == "Mixpanel"


def test_the_site_picks_the_retention_tier_of_a_tiered_vendor(site):
    versions.set_draft_vendors(site, [("piwik-pro", None)])
    default, _ = versions.publish(site)
    versions.set_draft_vendors(site, [("piwik-pro", "enterprise")])
    enterprise, changes = versions.publish(site)
    assert default.content["vendors"][0]["retention_months"] == 14
    assert default.content["vendors"][0]["retention_tier"] == "core"
    assert enterprise.content["vendors"][0]["retention_months"] == 25
    assert changes["vendors_changed"] == ["piwik-pro"] and changes["asks_again"] is False


@pytest.mark.parametrize("choices,field,reason", [
    ([("no-such-vendor", None)], "vendors[0]", "unknown vendor 'no-such-vendor'"),
    ([("piwik-pro", "gold")], "vendors[0].retention_tier", "tier must be one of: core, enterprise"),
    ([("facebook", "core")], "vendors[0].retention_tier", "'facebook' has no retention tiers"),
    ([("mixpanel", None), ("mixpanel", None)], "vendors", "a vendor may appear once"),
])
def test_bad_draft_vendors_are_refused_and_change_nothing(site, choices, field, reason):
    versions.set_draft_vendors(site, [("google-analytics", None)])
    events = db.session.query(AuditEvent).count()
    with pytest.raises(ServiceError) as raised:
        versions.set_draft_vendors(site, choices)
    assert raised.value.errors[field] == [reason]
    db.session.rollback()
    assert [v.vendor_id for v in site.draft.vendors] == ["google-analytics"]
    assert db.session.query(AuditEvent).count() == events


def test_publishing_is_audited_with_its_diff(site):
    versions.set_draft_vendors(site, [("mixpanel", None)], "marketer@shop.example")
    version, _ = versions.publish(site, "marketer@shop.example")
    event = db.session.query(AuditEvent).filter_by(action="config.publish").one()
    assert event.actor == "marketer@shop.example"
    assert event.after["hash"] == version.content_hash
    assert event.after["changes"]["vendors_added"] == ["mixpanel"]


def test_a_site_without_controller_or_policy_cannot_publish(app, catalogue):
    site = create_site({"name": "Anonymous"})
    versions.set_draft_vendors(site, [("mixpanel", None)])
    with pytest.raises(ServiceError) as raised:
        versions.publish(site)
    assert set(raised.value.errors) == {"controller", "privacy_policy_url"}
    assert db.session.query(ConfigVersion).count() == 0


def test_region_rules_are_validated_and_audited(site):
    versions.update_draft(site, {"region_rules": {"US-CA": "opt-out", "default": "none"}}, "marketer@shop.example")
    assert site.draft.region_rules == {"US-CA": "opt-out", "default": "none"}
    with pytest.raises(ServiceError) as raised:
        versions.update_draft(site, {"region_rules": {"DE": "none", "US": "sometimes"}})
    assert set(raised.value.errors) == {"region_rules.DE", "region_rules.US"}
    assert "requires opt-in" in raised.value.errors["region_rules.DE"][0]
    db.session.rollback()
    assert site.draft.region_rules == {"US-CA": "opt-out", "default": "none"}
    event = db.session.query(AuditEvent).filter_by(action="draft.update").one()
    assert event.after == {"region_rules": {"US-CA": "opt-out", "default": "none"}}
