"""The cookie declaration: per site and language, what the seed statement's "Cookies and
terms of use" section is, generated from the site's newest published configuration.

Two views of one rendering:

* ``GET /sites/<key>/cookies``: a complete HTML page;
* ``GET /sites/<key>/cookies.fragment.html``: the same markup as an embeddable fragment
  (no ``<html>``/``<head>``/``<script>``, no event handler attributes, no external
  resources, every class prefixed ``cmp-decl-``), with ``Access-Control-Allow-Origin: *``
  so a site can fetch it and insert it into its own privacy page.

Both are always current (the newest published version), answered with a strong ETag over
the body (304 on If-None-Match), ``Cache-Control: public, max-age=300`` and
``Vary: Accept-Language``. Everything taken from the configuration is escaped by Jinja's
autoescaping; links are emitted only for http(s) URLs.

Catalogue texts that exist only in English (cookie descriptions, transfer safeguards,
retention tier names) are shown in English, with a note saying so in other languages.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, render_template, request
from sqlalchemy import select
from werkzeug.exceptions import UnprocessableEntity

from cmp_server.consent import receipts
from cmp_server.sites import versions
from cmp_server.platform.cache import app_cache
from cmp_server.sites.catalogue import CATALOGUE_LANGUAGES
from cmp_server.platform.extensions import db
from cmp_server.platform.http import etag_matches
from cmp_server.platform.geo import EEA
from cmp_server.platform.languages import LANGUAGE_TAG, localise, negotiate
from cmp_server.models import ConfigVersion

bp = Blueprint("declaration", __name__)

SITE_KEY = re.compile(receipts.SITE_KEY)
PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
MAX_AGE = 300
PAGE, FRAGMENT = "page", "fragment"

# The fixed wording per catalogue language, and country names: a data file
_TEXTS = json.loads((Path(__file__).with_name("declaration_texts.json")).read_text(encoding="utf-8"))
LABELS: dict[str, dict[str, Any]] = _TEXTS["labels"]
COUNTRIES: dict[str, list[str]] = _TEXTS["countries"]  # in CATALOGUE_LANGUAGES' order

STORAGE = {"local_storage": "localStorage", "session_storage": "sessionStorage"}

assert set(LABELS) == set(CATALOGUE_LANGUAGES), "every catalogue language needs its labels"
assert all(LABELS[lang].keys() == LABELS["en"].keys() for lang in LABELS)


# --- wording helpers ------------------------------------------------------------------------

def country_name(code: str, language: str) -> str:
    names = COUNTRIES.get(code)
    return names[CATALOGUE_LANGUAGES.index(language)] if names else code


def count(n: int, unit: str, labels: dict[str, Any]) -> str:
    singular, plural = labels[unit]
    return f"{n} {singular if n == 1 else plural}"


def round_months(days: int) -> int | None:
    """``days`` as a whole number of months when it is one: 30-day months (90 = 3) or
    calendar-average months (183 = 6, 395 = 13)."""
    months = round(days * 12 / 365)
    if months < 1:
        return None
    exact = months * 365 / 12
    if days == 30 * months or math.floor(exact) <= days <= math.ceil(exact):
        return months
    return None


def lifetime_words(lifetime: int | str, labels: dict[str, Any]) -> str:
    """A cookie's lifetime for people: session, persistent, years or months when the
    number of days is round, else days."""
    if lifetime == "session":
        return labels["session"]
    if lifetime == "persistent":
        return labels["persistent"]
    days = int(lifetime)
    if days % 365 == 0:
        return count(days // 365, "year", labels)
    months = round_months(days)
    if months is not None:
        return count(months, "month", labels)
    return count(days, "day", labels)


def date_words(moment: datetime, labels: dict[str, Any]) -> str:
    return labels["date"].format(day=moment.day, month=labels["months"][moment.month - 1],
                                 year=moment.year)


def link(url: str | None) -> str | None:
    """The URL if it is safe as an href (http or https), else None: shown as text."""
    if not url:
        return None
    return url if urlsplit(url.strip()).scheme.lower() in ("http", "https") else None


# --- the declaration as plain data, for the templates -----------------------------------------

def vendor_facts(vendor: dict[str, Any], language: str, default: str,
                 labels: dict[str, Any]) -> dict[str, Any]:
    company = vendor["company"]
    hosting = vendor["hosting"]
    tier_name = None
    if vendor.get("retention_tier"):
        tier_name = next((t["name"] for t in vendor["retention"].get("tiers", [])
                          if t["id"] == vendor["retention_tier"]), None)
    months = vendor["retention_months"]
    retention = count(months, "month", labels) if months else labels["retention_none"]
    if tier_name:
        retention = f"{retention} ({tier_name})"
    locations = [labels["own_servers"] if code == "site" else country_name(code, language)
                 for code in hosting["locations"]]
    outside = [country_name(code, language) for code in hosting["locations"]
               if code != "site" and code not in EEA]
    return {
        "id": vendor["id"],
        "name": vendor["name"],
        "provider": f"{company['name']} ({country_name(company['country'], language)})",
        "description": localise(vendor["description"], language, default),
        "legal_basis": labels["basis_necessary" if vendor["legal_basis"] == "strictly_necessary"
                              else "basis_consent"],
        "strictly_necessary": vendor["legal_basis"] == "strictly_necessary",
        "retention": retention,
        "hosting": ", ".join(locations),
        "transfers": hosting["transfers_outside_eea"],
        "transfer_countries": ", ".join(outside),
        "safeguards": hosting.get("safeguards"),
        "policy_url": vendor["policy_url"],
        "policy_href": link(vendor["policy_url"]),
        "cookies": [
            {
                "name": cookie["name"],
                "storage": STORAGE.get(cookie["storage"], labels["cookie"]),
                "domain": (labels["first_party"] if cookie["domain"] == "first_party"
                           else labels["third_party"].format(domain=cookie["domain"])),
                "lifetime": lifetime_words(cookie["lifetime"], labels),
                "description": cookie.get("description", ""),
            }
            for cookie in vendor.get("cookies", [])
        ],
        "has_glob": any(c.get("match") == "glob" for c in vendor.get("cookies", [])),
        "purposes": list(vendor["purposes"]),
    }


def platform_facts(content: dict[str, Any], language: str, labels: dict[str, Any]) -> dict[str, Any]:
    """The consent banner itself, as a strictly necessary entry: its cmp_consent cookie
    (the receipt token, kept as long as a consent lasts), its cmp_pending key and its
    cmp_gcm key (Google Consent Mode defaults, for sites that set any)."""
    controller = content.get("controller") or {}
    months = max(content["consent_lifetime_months"], content["refusal_lifetime_months"])
    provider = controller.get("name") or ""
    if controller.get("country"):
        provider = f"{provider} ({country_name(controller['country'], language)})"
    return {
        "id": "cmp", "name": labels["own_name"], "provider": provider,
        "description": labels["own_description"],
        "legal_basis": labels["basis_necessary"], "strictly_necessary": True,
        "retention": count(months, "month", labels), "hosting": labels["own_servers"],
        "transfers": False, "transfer_countries": "", "safeguards": None,
        "policy_url": content.get("policy_url"), "policy_href": link(content.get("policy_url")),
        "cookies": [
            {"name": "cmp_consent", "storage": labels["cookie"], "domain": labels["first_party"],
             "lifetime": count(months, "month", labels), "description": labels["own_cookie"]},
            {"name": "cmp_pending", "storage": STORAGE["local_storage"],
             "domain": labels["first_party"], "lifetime": labels["persistent"],
             "description": labels["own_pending"]},
            {"name": "cmp_gcm", "storage": STORAGE["local_storage"],
             "domain": labels["first_party"], "lifetime": labels["persistent"],
             "description": labels["own_gcm"]},
        ],
        "has_glob": False, "purposes": ["necessary"],
    }


def declaration(content: dict[str, Any], number: int, published_at: datetime,
                language: str) -> dict[str, Any]:
    default = content["default_language"]
    labels = LABELS[language]
    purpose_names = {p["id"]: localise(p["name"], language, default)
                     for p in content["purposes"]}
    order = [p["id"] for p in content["purposes"]]
    facts = [platform_facts(content, language, labels)] + [
        vendor_facts(v, language, default, labels) for v in content["vendors"]]
    # Each vendor is described in full once, under the first of its purposes; the others
    # name it and link there, so each purpose's section still says who runs when it is
    # granted. A vendor that needs consent runs only when every one of its purposes is
    # granted, and says so ("Used only if you also consent to").
    purposes, described = [], {}
    for purpose in content["purposes"]:
        vendors = []
        for vendor in facts:
            if purpose["id"] not in vendor["purposes"]:
                continue
            if vendor["id"] in described:
                first = described[vendor["id"]]
                vendors.append({"id": vendor["id"], "name": vendor["name"],
                                "see": (first, purpose_names[first])})
                continue
            described[vendor["id"]] = purpose["id"]
            others = sorted((p for p in vendor["purposes"] if p != purpose["id"] and p in order),
                            key=order.index)
            vendors.append({**vendor, "also": [(p, purpose_names[p]) for p in others]})
        purposes.append({
            "id": purpose["id"],
            "required": purpose["required"],
            "name": purpose_names[purpose["id"]],
            "description": localise(purpose["description"], language, default),
            "vendors": vendors,
        })
    controller = content.get("controller") or {}
    controller_line = ", ".join(
        part for part in (controller.get("name"), controller.get("address"),
                          country_name(controller["country"], language)
                          if controller.get("country") else None)
        if part
    )
    moment = published_at if published_at.tzinfo is None else published_at.astimezone(timezone.utc)
    return {
        "language": language,
        "version": number,
        "intro": labels["intro"].format(controller=controller.get("name") or ""),
        "controller": controller_line,
        "controller_name": controller.get("name"),
        "email": controller.get("email"),
        "policy_url": content.get("policy_url"),
        "policy_href": link(content.get("policy_url")),
        "updated": labels["updated"].format(date=date_words(moment, labels), version=number),
        "published_on": moment.date().isoformat(),
        "purposes": purposes,
        "has_glob": any(v["has_glob"] for v in facts),
        "english_note": labels["english_note"] if facts else "",
    }


# --- rendering and the views ----------------------------------------------------------------

@dataclass(frozen=True)
class Rendered:
    body: bytes
    etag: str


def _published_at(ref: versions.VersionRef) -> datetime:
    return db.session.execute(
        select(ConfigVersion.published_at).where(ConfigVersion.id == ref.id)
    ).scalar_one()


def render(ref: versions.VersionRef, language: str, kind: str) -> Rendered:
    """The page or fragment for one published version and language, kept per app (a
    published version never changes, and the ref names it completely)."""
    def load() -> Rendered:
        content = versions.published_content(ref)
        data = declaration(content, ref.number, _published_at(ref), language)
        template = "declaration_page.html" if kind == PAGE else "declaration_fragment.html"
        html = render_template(template, d=data, t=LABELS[language],
                               heading=1 if kind == PAGE else 2)
        body = html.encode("utf-8")
        return Rendered(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')

    return app_cache("declaration_rendered", float("inf")).get((ref, language, kind), load)


def requested_language() -> str | None:
    lang = request.args.get("lang")
    if lang is not None and (len(lang) > 35 or not LANGUAGE_TAG.match(lang)):
        error = UnprocessableEntity("The request's parameters are invalid.")
        error.errors = {"query": {"lang": ["must be a language tag such as sv or nb-NO"]}}
        raise error
    return lang


def answer(site_key: str, kind: str) -> Response:
    lang = requested_language()
    ref = versions.published_ref(site_key) if SITE_KEY.match(site_key) else None
    if ref is None and kind == PAGE:  # a page people open: an HTML answer, in their language
        language = negotiate(lang, request.headers.get("Accept-Language"), "en")
        language = language if language in LABELS else "en"
        response = Response(render_template("declaration_missing.html", t=LABELS[language],
                                            language=language), status=404, mimetype="text/html")
        response.headers["Content-Security-Policy"] = PAGE_POLICY
        return response
    if ref is None:
        abort(404, description=f"Site {site_key!r} is unknown or has no published configuration.")
    default = versions.published_content(ref)["default_language"]
    language = negotiate(lang, request.headers.get("Accept-Language"), default)
    if language not in LABELS:
        language = "en"
    rendered = render(ref, language, kind)
    if etag_matches(request.headers.get("If-None-Match"), rendered.etag):
        response = Response(status=304)
    else:
        response = Response(rendered.body, mimetype="text/html")
        response.headers["Content-Language"] = language
    response.headers["ETag"] = rendered.etag
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
    response.headers["Vary"] = "Accept-Language"
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Nothing in either body loads or runs anything; the page has one inline <style>.
    response.headers["Content-Security-Policy"] = PAGE_POLICY if kind == PAGE else "default-src 'none'"
    return response


@bp.get("/sites/<site_key>/cookies")
def page(site_key: str):
    """The cookie declaration as a complete page."""
    return answer(site_key, PAGE)


@bp.get("/sites/<site_key>/cookies.fragment.html")
def fragment(site_key: str):
    """The cookie declaration as a script-free fragment for a site to insert."""
    return answer(site_key, FRAGMENT)


@bp.after_request
def cors(response: Response) -> Response:
    """Any origin may fetch the fragment (it is public and holds no personal data),
    including its errors and the preflight for a conditional request."""
    if request.endpoint == "declaration.fragment":
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Expose-Headers"] = "ETag, Content-Language"
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = "GET"
            response.headers["Access-Control-Allow-Headers"] = "If-None-Match"
            response.headers["Access-Control-Max-Age"] = "86400"
    return response
