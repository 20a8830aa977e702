"""Visitor region and the consent mode it calls for.

The raw IP is used for one database lookup and then dropped: it is never stored, logged,
returned or put in an exception message; only a :class:`Region` leaves this module.
"""
from __future__ import annotations

import importlib.resources
import ipaddress
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import geoip2.database
from flask import Flask, Request, current_app
from geoip2.errors import AddressNotFoundError
from maxminddb import InvalidDatabaseError
from werkzeug.http import parse_list_header

from cmp_server.platform.settings import ConfigError

OPT_IN = "opt-in"
OPT_OUT = "opt-out"
NONE = "none"
MODES = (OPT_IN, OPT_OUT, NONE)

EU = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)
#: Countries where nothing non-essential may run before consent (GDPR and its UK/Swiss
#: counterparts); no site rule can lower them.
#: GeoIP databases give the EU's outermost regions and Åland their own ISO codes; they are
#: EU territory all the same.
EU_TERRITORIES = frozenset("AX GF GP MQ RE YT MF".split())
EEA = EU | {"IS", "LI", "NO"}  # the EU member states plus Iceland, Liechtenstein and Norway
OPT_IN_REGIONS = EEA | EU_TERRITORIES | {"GB", "CH"}

_COUNTRY = re.compile(r"[A-Z]{2}")
_SUBDIVISION = re.compile(r"([A-Z]{2})-[A-Z0-9]{1,3}")
_EXTENSION = "cmp_geo"
_open_lock = threading.Lock()


@dataclass(frozen=True)
class Region:
    """Where a visitor is, as far as the database knows: ISO codes only, no address."""

    country: str | None
    subdivision: str | None = None  # ISO 3166-2, e.g. "US-CA"

    @property
    def code(self) -> str | None:
        """The most specific code, the form site rules are keyed by."""
        return self.subdivision or self.country


def client_ip(request: Request, trusted_hops: int) -> str:
    """The visitor's address, trusting X-Forwarded-For only as far as the operator said.

    With 0 hops the header is ignored, since anyone can send it; with N hops the N-th entry
    from the right is the one the outermost trusted proxy saw (werkzeug ProxyFix x_for=N).
    Too few entries fall back to the socket peer. "" when there is no address at all.
    """
    key = f"cmp.client_ip.{trusted_hops}"  # worked out once per request (rate limit, region)
    address = request.environ.get(key)
    if address is None:
        address = request.environ[key] = _client_ip(request, trusted_hops)
    return address


def client_key(address: str) -> str:
    """Who a limit counts: the address, or for IPv6 its /64 (one subscriber is usually
    given a whole /64, and could otherwise walk past any limit by changing addresses)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


def _client_ip(request: Request, trusted_hops: int) -> str:
    if trusted_hops > 0:
        values = parse_list_header(request.headers.get("X-Forwarded-For", ""))
        if len(values) >= trusted_hops and values[-trusted_hops].strip():
            return values[-trusted_hops].strip()
    return (request.remote_addr or "").strip()


def default_database_path() -> str:
    """GeoLite2 City from the maxminddb-geolite2 wheel, so lookups work with no setup."""
    return str(importlib.resources.files("_maxminddb_geolite2") / "GeoLite2-City.mmdb")


@dataclass(frozen=True)
class GeoDatabase:
    """An open GeoIP2 or GeoLite2 database and its lookup: ``city`` for a City database
    (country and subdivisions), ``country`` for a Country one."""

    reader: geoip2.database.Reader
    lookup: Callable[[ipaddress.IPv4Address | ipaddress.IPv6Address], Any]


def open_database(path: str) -> GeoDatabase:
    reader = geoip2.database.Reader(path)
    kind = reader.metadata().database_type
    return GeoDatabase(reader, reader.city if "City" in kind else reader.country)


def _database(app: Flask) -> GeoDatabase:
    """The app's database, opened on first use and shared (geoip2's reader is
    thread-safe)."""
    database = app.extensions.get(_EXTENSION)
    if database is not None:
        return database
    with _open_lock:
        if _EXTENSION not in app.extensions:
            configured = app.config.get("CMP_GEOIP_DB")
            path = configured or default_database_path()
            if configured and not Path(path).is_file():
                raise ConfigError(f"CMP_GEOIP_DB: no GeoIP database file at {path!r}")
            try:
                app.extensions[_EXTENSION] = open_database(path)
            except (OSError, InvalidDatabaseError) as error:
                raise ConfigError(f"CMP_GEOIP_DB: cannot open {path!r}: {error}") from None
        return app.extensions[_EXTENSION]


def region_for_ip(ip: str) -> Region | None:
    """The region of ``ip`` in the current app's database; None when it cannot be known.

    Private, reserved, unlisted and malformed addresses are ordinary input from the
    internet, so they give None (which callers treat as opt-in) rather than an error.
    The subdivision is the top-level one (a US state, not a county) since that is where
    privacy laws are made.
    """
    database = _database(current_app)
    try:
        # Parsed strictly first: the database reader also takes loose forms ("1.2.3").
        address = ipaddress.ip_address(ip)
        if not address.is_global:
            return None
        record = database.lookup(address)
    except (AddressNotFoundError, ValueError, TypeError):
        return None  # the exception text contains the address: do not chain or log it
    country = record.country.iso_code
    if not country:
        return None
    subdivisions = getattr(record, "subdivisions", ())  # City databases only
    top = subdivisions[0].iso_code if subdivisions else None
    return Region(country, f"{country}-{top}" if top else None)


def region_for_request(request: Request) -> Region | None:
    """The region of the visitor behind ``request``, honouring CMP_TRUSTED_PROXY_HOPS."""
    hops = current_app.config.get("CMP_TRUSTED_PROXY_HOPS", 0)
    return region_for_ip(client_ip(request, hops))


def mode_for(region: Region | None, rules: dict[str, str]) -> str:
    """The consent mode for a visitor from ``region`` under a site's rules.

    OPT_IN_REGIONS are opt-in whatever the rules say; otherwise the most specific rule
    wins (subdivision, country, "default"). Anything unknown (no region, no matching rule,
    a value that is not a mode) fails safe to opt-in.
    """
    if region is None or not region.country or region.country in OPT_IN_REGIONS:
        return OPT_IN
    for key in (region.subdivision, region.country, "default"):
        if key and key in rules:
            return rules[key] if rules[key] in MODES else OPT_IN
    return OPT_IN


def validate_region_rules(rules: object) -> dict[str, list[str]]:
    """marshmallow-style errors for a site's region rules, keyed by rule key; {} if valid.

    Rules may not weaken an OPT_IN_REGIONS country or one of its subdivisions: mode_for
    would ignore such a rule, and silently accepting it would mislead the site owner.
    """
    if not isinstance(rules, dict):
        return {"_schema": ["Region rules must be an object."]}
    errors: dict[str, list[str]] = {}
    for key, mode in rules.items():
        reasons = []
        subdivision = _SUBDIVISION.fullmatch(key) if isinstance(key, str) else None
        country = subdivision.group(1) if subdivision else key
        if not (key == "default" or subdivision or (
                isinstance(key, str) and _COUNTRY.fullmatch(key))):
            reasons.append(
                'Key must be "default", an ISO 3166-1 alpha-2 country in upper case ("US") '
                'or an ISO 3166-2 subdivision ("US-CA").'
            )
        if mode not in MODES:
            reasons.append(f"Mode must be one of: {', '.join(MODES)}.")
        elif mode != OPT_IN and country in OPT_IN_REGIONS:
            reasons.append(f"{key} requires opt-in; it cannot be set to {mode}.")
        if reasons:
            errors[str(key)] = reasons
    return errors
