"""Creating sites: origins normalised, lifetimes bounded, bad input refused whole."""
from __future__ import annotations

import pytest

from cmp_server.platform.errors import ServiceError
from cmp_server.platform.extensions import db
from cmp_server.models import AuditEvent, Site
from cmp_server.sites.registry import create_site


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


def test_saving_a_site_that_keeps_an_origin_keeps_it(app):
    from cmp_server.sites.registry import update_site

    site = create_site({"name": "Shop", "origins": ["https://shop.example"]})
    update_site(site, {"origins": ["https://shop.example", "https://www.shop.example"]}, "tester")
    update_site(site, {"origins": ["https://www.shop.example"]}, "tester")
    db.session.expire_all()
    assert site.origin_list == ["https://www.shop.example"]


def test_international_and_ipv6_origins_are_kept_as_browsers_send_them(app):
    site = create_site({"name": "S", "origins": ["https://Bücher.example", "http://[::1]:8080",
                                                 "http://[0:0::1]"]})
    assert site.origin_list == ["http://[::1]", "http://[::1]:8080",
                                "https://xn--bcher-kva.example"]


@pytest.mark.parametrize("payload,field,reason", [
    ({"name": ""}, "name", "Length must be between 1 and 200."),
    ({"name": "S", "origins": ["ftp://shop.example"]}, "origins", "scheme must be http or https"),
    ({"name": "S", "origins": ["https://shop.example/path"]}, "origins", "no path"),
    ({"name": "S", "origins": ["https://user:pw@shop.example"]}, "origins", "credentials"),
    # hosts no browser sends in Origin (found by stress/test_xss.py)
    ({"name": "S", "origins": ["https://<svg>"]}, "origins", "host must be a domain name"),
    ({"name": "S", "origins": ['http://a"onmouseover=x']}, "origins", "host must be a domain"),
    ({"name": "S", "origins": ["https://shop%22.example"]}, "origins", "host must be a domain"),
    ({"name": "S", "origins": ["http://[::1"]}, "origins", "invalid host"),  # was a 500
    ({"name": "S", "origins": ["http://[zz::1]"]}, "origins", "invalid host"),
    ({"name": "S", "controller": {"name": "C", "address": "A", "country": "SE\n",
                                  "email": "c@shop.example"}}, "controller", "alpha-2"),
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
