"""Creating sites: origins normalised, lifetimes bounded, bad input refused whole."""
from __future__ import annotations

import pytest

from cmp_server.errors import ServiceError
from cmp_server.extensions import db
from cmp_server.models import AuditEvent, Site
from cmp_server.sites import create_site


def test_a_site_gets_a_random_key_normalised_origins_and_defaults(app):
    site = create_site({
        "name": "Shop",
        "origins": ["HTTPS://Shop.Example:443/", "http://localhost:5000", "https://shop.example"],
    }, "tester")
    other = create_site({"name": "Other"})
    assert len(site.key) == 16 and site.key != other.key
    assert site.origin_list == ["http://localhost:5000", "https://shop.example"]
    assert (site.consent_lifetime_months, site.refusal_lifetime_months) == (12, 6)
    event = db.session.query(AuditEvent).filter_by(entity_id=site.key).one()
    assert event.action == "site.create" and event.actor == "tester"
    assert event.after["origins"] == site.origin_list


@pytest.mark.parametrize("payload,field,reason", [
    ({"name": ""}, "name", "Length must be between 1 and 200."),
    ({"name": "S", "origins": ["ftp://shop.example"]}, "origins", "scheme must be http or https"),
    ({"name": "S", "origins": ["https://shop.example/path"]}, "origins", "no path"),
    ({"name": "S", "origins": ["https://user:pw@shop.example"]}, "origins", "credentials"),
    ({"name": "S", "consent_lifetime_months": 14}, "consent_lifetime_months", "between 1 and 13"),
    ({"name": "S", "consent_lifetime_months": "12"}, "consent_lifetime_months", "Not a valid integer"),
    ({"name": "S", "refusal_lifetime_months": 13, "consent_lifetime_months": 12},
     "refusal_lifetime_months", "not remembered longer than a consent"),
    ({"name": "S", "default_language": "fr"}, "default_language", "must be one of: en, sv"),
    ({"name": "S", "colour": "red"}, "colour", "Unknown field"),
])
def test_bad_sites_are_refused_naming_the_field(app, payload, field, reason):
    with pytest.raises(ServiceError) as raised:
        create_site(payload)
    assert reason in str(raised.value.errors[field])
    db.session.rollback()
    assert db.session.query(Site).count() == 0
    assert db.session.query(AuditEvent).count() == 0
