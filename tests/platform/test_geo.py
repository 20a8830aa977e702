"""Region lookup against the real GeoLite2 file shipped by maxminddb-geolite2, the
trusted-proxy rule for the client address, and the consent mode each region gets."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from flask import request

from cmp_server.platform.settings import ConfigError
from cmp_server.platform.geo import (
    NONE,
    OPT_IN,
    OPT_IN_REGIONS,
    OPT_OUT,
    Region,
    client_ip,
    default_database_path,
    mode_for,
    region_for_ip,
    region_for_request,
    validate_region_rules,
)
from tests.conftest import make_app


@pytest.fixture
def geo_app(tmp_path, instance_path):
    """An app that never touches its database; settings are explicit so the caller's
    environment cannot leak in."""

    def build(**config):
        settings = {"CMP_GEOIP_DB": None, "CMP_TRUSTED_PROXY_HOPS": 0, **config}
        return make_app(f"sqlite:///{tmp_path / 'unused.sqlite3'}", instance_path, **settings)

    return build


@pytest.fixture
def app_ctx(geo_app):
    app = geo_app()
    with app.app_context():
        yield app


# --- lookups -------------------------------------------------------------------------

@pytest.mark.parametrize(
    "ip, country, subdivision",
    [
        ("128.32.0.1", "US", "US-CA"),
        ("8.8.8.8", "US", None),
        ("130.237.0.1", "SE", "SE-AB"),
        ("195.186.1.111", "CH", None),
        ("81.2.69.142", "GB", "GB-ENG"),
        ("193.0.6.139", "NL", "NL-NH"),
        ("2001:4860:4860::8888", "US", "US-CA"),
    ],
)
def test_public_addresses_resolve_to_iso_codes(app_ctx, ip, country, subdivision):
    assert region_for_ip(ip) == Region(country, subdivision)


@pytest.mark.parametrize(
    "ip",
    [
        "10.0.0.1", "172.16.0.1", "192.168.1.1", "127.0.0.1", "169.254.1.1", "100.64.0.1",
        "0.0.0.0", "255.255.255.255", "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1",
    ],
)
def test_private_loopback_and_reserved_addresses_have_no_region(app_ctx, ip):
    assert region_for_ip(ip) is None


@pytest.mark.parametrize(
    "ip",
    # "1.2.3" and "134744072" are loose spellings the database reader would resolve.
    ["", "garbage", "999.1.1.1", "1.2.3", "134744072", "8.8.8.8:80", "[::1]", " 8.8.8.8",
     "8.8.8.8\x00", "1.2.3.4, 5.6.7.8", "x" * 10_000],
)
def test_malformed_addresses_have_no_region(app_ctx, ip):
    assert region_for_ip(ip) is None


def test_region_code_is_the_most_specific_code():
    assert Region("US", "US-CA").code == "US-CA"
    assert Region("SE").code == "SE"
    assert Region(None).code is None


def test_the_address_leaves_no_trace(app_ctx, caplog):
    caplog.set_level(logging.DEBUG)
    region = region_for_ip("130.237.0.1")
    region_for_ip("10.9.8.7")
    assert "130.237.0.1" not in repr(region)
    assert "130.237" not in caplog.text and "10.9.8.7" not in caplog.text


# --- database file -------------------------------------------------------------------

def test_default_database_is_the_shipped_geolite2_city_file():
    path = Path(default_database_path())
    assert path.name == "GeoLite2-City.mmdb"
    assert path.is_file()


def test_configured_database_file_is_used(geo_app, tmp_path):
    copy = tmp_path / "copy.mmdb"
    shutil.copy(default_database_path(), copy)
    app = geo_app(CMP_GEOIP_DB=str(copy))
    with app.app_context():
        assert region_for_ip("130.237.0.1") == Region("SE", "SE-AB")
        copy.unlink()  # opened once: later lookups do not go back to the path
        assert region_for_ip("128.32.0.1") == Region("US", "US-CA")


def test_configured_file_that_is_not_a_database_fails_naming_the_setting(geo_app, tmp_path):
    bogus = tmp_path / "bogus.mmdb"
    bogus.write_bytes(b"not a maxmind database" * 100)
    with geo_app(CMP_GEOIP_DB=str(bogus)).app_context():
        with pytest.raises(ConfigError, match="CMP_GEOIP_DB") as failure:
            region_for_ip("8.8.8.8")
    assert str(bogus) in str(failure.value)


def test_missing_configured_database_fails_at_first_use_naming_setting_and_path(
    geo_app, tmp_path
):
    missing = tmp_path / "nowhere" / "City.mmdb"
    app = geo_app(CMP_GEOIP_DB=str(missing))  # starting up is fine
    with app.app_context():
        with pytest.raises(ConfigError) as failure:
            region_for_ip("8.8.8.8")
    assert "CMP_GEOIP_DB" in str(failure.value)
    assert str(missing) in str(failure.value)
    with geo_app().app_context():  # another app is not affected
        assert region_for_ip("8.8.8.8") == Region("US")


# --- client address behind proxies --------------------------------------------------

# The socket peer is a private load balancer; the visitor (SE) is the last address
# the proxy appended; before it, a value the visitor sent themselves (US).
CHAIN = {"environ_base": {"REMOTE_ADDR": "10.0.0.5"},
         "headers": {"X-Forwarded-For": "8.8.8.8, 130.237.0.1"}}


@pytest.mark.parametrize(
    "hops, expected", [(0, "10.0.0.5"), (1, "130.237.0.1"), (2, "8.8.8.8"), (3, "10.0.0.5")]
)
def test_client_ip_trusts_exactly_the_configured_hops(geo_app, hops, expected):
    with geo_app().test_request_context(**CHAIN):
        assert client_ip(request, hops) == expected


@pytest.mark.parametrize("hops, region", [(0, None), (1, Region("SE", "SE-AB")),
                                          (2, Region("US"))])
def test_region_for_request_uses_the_apps_trusted_hops(geo_app, hops, region):
    with geo_app(CMP_TRUSTED_PROXY_HOPS=hops).test_request_context(**CHAIN):
        assert region_for_request(request) == region


def test_forwarded_header_is_ignored_without_trusted_proxies(geo_app):
    with geo_app().test_request_context(
        environ_base={"REMOTE_ADDR": "130.237.0.1"}, headers={"X-Forwarded-For": "8.8.8.8"}
    ):
        assert client_ip(request, 0) == "130.237.0.1"
        assert region_for_request(request) == Region("SE", "SE-AB")


def test_forwarded_entries_are_stripped(geo_app):
    with geo_app().test_request_context(
        environ_base={"REMOTE_ADDR": "10.0.0.5"},
        headers={"X-Forwarded-For": "  130.237.0.1 ,\t10.1.1.1  "},
    ):
        assert client_ip(request, 2) == "130.237.0.1"


@pytest.mark.parametrize("header", ["", " , ,", "garbage;;<>", '"unterminated, x'])
def test_garbage_forwarded_header_never_raises(geo_app, header):
    app = geo_app(CMP_TRUSTED_PROXY_HOPS=1)
    with app.test_request_context(environ_base={"REMOTE_ADDR": "10.0.0.5"},
                                  headers={"X-Forwarded-For": header}):
        assert isinstance(client_ip(request, 1), str)
        assert region_for_request(request) is None


def test_missing_remote_address_gives_empty_string_and_no_region(geo_app):
    with geo_app().test_request_context(environ_base={"REMOTE_ADDR": None}):
        assert client_ip(request, 0) == ""
        assert region_for_request(request) is None


# --- consent modes --------------------------------------------------------------------

def test_opt_in_regions_are_the_eu_the_eea_the_uk_and_switzerland():
    eu = {"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
          "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"}
    assert len(eu) == 27
    outermost_regions_and_aland = {"AX", "GF", "GP", "MQ", "RE", "YT", "MF"}
    assert set(OPT_IN_REGIONS) == eu | outermost_regions_and_aland | {"IS", "LI", "NO", "GB", "CH"}


LAX = {"default": NONE, "US": NONE, "US-CA": OPT_OUT}


@pytest.mark.parametrize("region", [Region("SE", "SE-AB"), Region("GB", "GB-ENG"),
                                    Region("CH"), Region("NO"), Region("DE")])
def test_opt_in_regions_are_opt_in_whatever_the_rules(region):
    rules = {**LAX, region.country: NONE, **({region.code: NONE} if region.code else {})}
    assert mode_for(region, rules) == OPT_IN


def test_subdivision_rule_beats_country_rule():
    assert mode_for(Region("US", "US-CA"), LAX) == OPT_OUT


def test_country_rule_applies_to_other_subdivisions_and_beats_default():
    rules = {"default": OPT_IN, "US": NONE, "US-CA": OPT_OUT}
    assert mode_for(Region("US", "US-TX"), rules) == NONE
    assert mode_for(Region("US"), rules) == NONE


def test_default_rule_applies_where_nothing_more_specific_matches():
    assert mode_for(Region("BR", "BR-SP"), LAX) == NONE
    assert mode_for(Region("BR"), {"default": OPT_OUT, "US": NONE}) == OPT_OUT


def test_without_a_matching_rule_the_mode_is_opt_in():
    assert mode_for(Region("US", "US-CA"), {}) == OPT_IN
    assert mode_for(Region("BR"), {"US": NONE}) == OPT_IN


def test_unknown_region_fails_safe_to_opt_in_even_with_a_lax_default():
    assert mode_for(None, LAX) == OPT_IN
    assert mode_for(Region(None), LAX) == OPT_IN


def test_unvalidated_rule_value_fails_safe_to_opt_in():
    assert mode_for(Region("US"), {"US": "whatever"}) == OPT_IN


def test_modes_from_real_lookups(app_ctx):
    assert mode_for(region_for_ip("128.32.0.1"), LAX) == OPT_OUT
    assert mode_for(region_for_ip("8.8.8.8"), LAX) == NONE
    assert mode_for(region_for_ip("193.0.6.139"), LAX) == OPT_IN
    assert mode_for(region_for_ip("192.168.0.1"), LAX) == OPT_IN


# --- rule validation ---------------------------------------------------------------

def test_valid_rules_have_no_errors():
    rules = {"default": NONE, "US": OPT_OUT, "US-CA": OPT_OUT, "CA-QC": OPT_IN,
             "SE": OPT_IN, "GB-ENG": OPT_IN, "JP-13": NONE, "BR": OPT_IN}
    assert validate_region_rules(rules) == {}
    assert validate_region_rules({}) == {}


@pytest.mark.parametrize(
    "key", ["us", "USA", "U", "US-", "US-CALI", "us-ca", "US_CA", "", "Default", "DEFAULT",
            " US", "US-C A", "ÄÖ"],
)
def test_malformed_keys_are_refused(key):
    errors = validate_region_rules({key: NONE, "US": OPT_OUT})
    assert list(errors) == [key]
    assert errors[key]


def test_non_string_key_is_refused_under_its_text():
    assert list(validate_region_rules({1: NONE})) == ["1"]


@pytest.mark.parametrize("mode", ["opt_in", "OPT-IN", "", "block", None, 1, ["opt-in"]])
def test_unknown_modes_are_refused(mode):
    errors = validate_region_rules({"US": mode})
    assert list(errors) == ["US"]
    assert "opt-in" in errors["US"][0]  # the reason lists the accepted modes


@pytest.mark.parametrize(
    "key, mode",
    [("SE", NONE), ("DE", OPT_OUT), ("FR-75", NONE), ("GB-ENG", OPT_OUT), ("CH", NONE),
     ("NO", OPT_OUT), ("LI", NONE), ("IS", OPT_OUT)],
)
def test_weakening_an_opt_in_region_is_refused(key, mode):
    errors = validate_region_rules({key: mode, "default": NONE})
    assert list(errors) == [key]
    assert any("requires opt-in" in reason for reason in errors[key])


def test_every_problem_is_reported_together():
    errors = validate_region_rules({"default": "x", "usa": NONE, "SE": OPT_OUT, "US": NONE})
    assert set(errors) == {"default", "usa", "SE"}


def test_rules_that_are_not_an_object_are_refused():
    assert validate_region_rules(["US", NONE]) == {
        "_schema": ["Region rules must be an object."]
    }
