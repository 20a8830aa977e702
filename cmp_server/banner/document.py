"""What the banner needs for one visitor: the site's published configuration in one
language, with the consent mode of the visitor's region, every text the banner shows in
that language (its own strings with the site's rewrites: the tag carries none) and the
modules of the tag the site needs. Immutable versions make the rendered body safe to keep
per process, keyed by everything it depends on.

One language per display: the banner speaks a language only where the site can show every
text in it (complete_languages): the banner's strings (with the site's rewrites in that
language) and each purpose's name and description. The catalogue's vendor
descriptions (five languages) and cookie descriptions (English) are facts the banner shows
when the display's language has them and leaves out otherwise; names, retention, hosting
and cookie lifetimes are shown in every language."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from flask import current_app

from cmp_server.banner.strings import BANNER_LANGUAGES, RIGHT_TO_LEFT, STRINGS, TCF_STRINGS
from cmp_server.sites import google_consent_mode
from cmp_server.sites.catalogue import CONSENT_SIGNALS, glob_regex
from cmp_server.sites.tcf import PLACEHOLDER_CMP_ID
from cmp_server.sites.theme import DEFAULT_LAYOUT, DEFAULT_SCHEME
from cmp_server.sites.versions import VersionRef, consent_scope, published_content
from cmp_server.platform.geo import Region, mode_for
from cmp_server.consent.sync import StaleList
from cmp_server.platform.languages import localise

VENDOR_FIELDS = ("id", "name", "purposes", "legal_basis", "policy_url", "hosts",
                 "retention_months", "hosting")
COOKIE_FIELDS = ("name", "storage", "domain", "lifetime")
# the tag's modules a site's configuration may need before the banner shows
SIGNAL_MODULES = {"google_consent_mode": "google", "microsoft_uet": "microsoft",
                  "microsoft_clarity": "microsoft"}
assert set(SIGNAL_MODULES) == set(CONSENT_SIGNALS)
# what the first layer shows waits for these modules; the others (the consent signals)
# only hold back what the banner releases
FIRST_LAYER_MODULES = ("theme", "tcf", "gpp")
# the US states whose laws have a GPP section of their own; elsewhere in the US, usnat
GPP_STATE_SECTIONS = {"US-CA": "usca", "US-VA": "usva", "US-CO": "usco", "US-UT": "usut",
                      "US-CT": "usct"}
# the GVL's texts a translation replaces (IAB's purposes-<lang>.json)
GVL_TEXTS = ("purposes", "specialPurposes", "features", "specialFeatures", "stacks", "dataCategories")


@dataclass(frozen=True)
class Rendered:
    body: bytes
    etag: str


def banner_document(content: dict[str, Any], number: int, digest: str, language: str,
                    region: str | None, mode: str,
                    modules: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    default = content["default_language"]
    site_texts = content["texts"].get(language) or {}

    def text(texts: dict[str, str]) -> str:
        return localise(texts, language, default)

    return {
        "site": content["site"],
        "version": number,
        "hash": digest,
        "language": language,
        "dir": "rtl" if language in RIGHT_TO_LEFT else "ltr",
        "languages": list(complete_languages(content)),
        "region": region,
        "mode": mode,
        "consent_lifetime_months": content["consent_lifetime_months"],
        "refusal_lifetime_months": content["refusal_lifetime_months"],
        "controller": content["controller"],
        "policy_url": content["policy_url"],
        "purposes": [
            {"id": p["id"], "required": p["required"], "name": text(p["name"]),
             "description": text(p["description"])}
            for p in content["purposes"]
        ],
        "vendors": [
            {**{field: v[field] for field in VENDOR_FIELDS},
             "company": v["company"]["name"], "description": v["description"].get(language),
             "hosting": hosting_shown(v["hosting"], content["controller"]),
             "cookies": [cookie_shown(c, language) for c in v["cookies"]]}
            for v in content["vendors"]
        ],
        "texts": site_texts,
        "strings": {**STRINGS.get(language, STRINGS["en"]), **site_texts},
        "theme": content["theme"],
        "google_consent_mode": google_consent_mode.for_banner(content),
        "consent_signals": consent_signals(content),
        "consent_scope": sorted(consent_scope(content)),
        "modules": dict(modules),
        "load": (load := modules_needed(content)),
        "show": [name for name in load if name in FIRST_LAYER_MODULES],
        **({"tcf": tcf_shown(content, language, mode)} if content.get("tcf") else {}),
        **({"gpp": gpp_shown(content, region)} if uses_gpp(content) else {}),
    }


def uses_gpp(content: dict[str, Any]) -> bool:
    """IAB's GPP is for a site whose region rules name US regions (its US sections), or
    that signals IAB TCF (its TCF EU section)."""
    return bool(content.get("tcf")) or any(
        key == "US" or key.startswith("US-") for key in content.get("region_rules") or {})


def gpp_shown(content: dict[str, Any], region: str | None) -> dict[str, Any]:
    """What the GPP module needs: the visitor's US section (their state's, else usnat; none
    outside the US), whether the site signals TCF too, the CMP's id."""
    section = None
    if region and region.split("-")[0] == "US":
        section = GPP_STATE_SECTIONS.get(region, "usnat")
    tcf = content.get("tcf") or {}
    return {"cmp_id": tcf.get("cmp_id") or current_app.config.get("CMP_TCF_CMP_ID") or 0,
            "cmp_version": tcf.get("cmp_version") or current_app.config.get("CMP_TCF_CMP_VERSION", 1),
            "section": section, "tcf": bool(tcf)}


def tcf_shown(content: dict[str, Any], language: str, mode: str) -> dict[str, Any]:
    """What the TCF module needs: the operator's CMP id, the site's part of the GVL in the
    banner's language, Google's ad technology providers, the layers' strings. TCF applies
    where the visitor is asked first."""
    tcf = content["tcf"]
    translation = tcf["translations"].get(language, {})
    gvl = {**tcf["gvl"], **{key: translated(tcf["gvl"].get(key, {}), translation.get(key, {}))
                            for key in GVL_TEXTS}}
    return {
        "cmp_id": tcf["cmp_id"] or PLACEHOLDER_CMP_ID,  # None only in a draft's preview
        "cmp_version": tcf["cmp_version"],
        "applies": mode == "opt-in",
        "language": language.split("-")[0],
        "publisher_cc": ((content["controller"] or {}).get("country") or "AA").upper(),
        "gvl": gvl,
        "google_atps": tcf["google_atps"],
        "strings": TCF_STRINGS[language],
    }


TRANSLATED_FIELDS = ("name", "description", "illustrations")


def translated(items: dict[str, dict], translation: dict[str, dict]) -> dict[str, dict]:
    """The GVL's items (purposes, stacks...) with their texts in the translation's
    language; ids and the rest stay as IAB's English list gives them."""
    return {key: {**item, **{field: value for field, value in translation.get(key, {}).items()
                             if field in TRANSLATED_FIELDS}}
            for key, item in items.items()}


def complete_languages(content: dict[str, Any]) -> tuple[str, ...]:
    """The banner's languages in which this version can show every text: the banner's own
    strings (each language has all of them, and the site's rewrites in a language replace
    them there), and each purpose's name and description, the site's own purposes too;
    for a TCF site, the TCF layers' strings and IAB's translation of the GVL's texts.
    A rewrite in one language is never shown in another: elsewhere the banner's own
    wording stands."""
    tcf = content.get("tcf")
    return tuple(
        language for language in BANNER_LANGUAGES
        if all(language in p["name"] and language in p["description"] for p in content["purposes"])
        and (not tcf or language in TCF_STRINGS and (language == "en" or language in tcf["translations"])))


def fallback_language(content: dict[str, Any]) -> str:
    """For a visitor none of whose languages the site can show in full: the site's default
    when it is complete, else English, else the first complete one, else the default."""
    complete = complete_languages(content)
    default = content["default_language"]
    return next((lang for lang in (default, "en", *complete) if lang in complete), default)


def modules_needed(content: dict[str, Any]) -> list[str]:
    """The tag's modules this version needs before its banner acts: its look beyond the
    default light box, the consent signals its vendors' tags read, IAB's TCF and GPP."""
    theme = content["theme"]
    needed = {SIGNAL_MODULES[signal] for v in content["vendors"]
              for signal in v.get("consent_signals", [])}
    if content.get("tcf"):
        needed.add("tcf")
    if uses_gpp(content):
        needed.add("gpp")
    if theme.get("layout", DEFAULT_LAYOUT) != DEFAULT_LAYOUT or \
            theme.get("scheme", DEFAULT_SCHEME) != DEFAULT_SCHEME:
        needed.add("theme")
    return sorted(needed)


def consent_signals(content: dict[str, Any]) -> dict[str, list[str]]:
    """Each consent signal the site's vendors' tags read, and those vendors."""
    signals: dict[str, list[str]] = {}
    for vendor in content["vendors"]:
        for signal in vendor.get("consent_signals", []):
            signals.setdefault(signal, []).append(vendor["id"])
    return signals


def cookie_shown(cookie: dict[str, Any], language: str) -> dict[str, Any]:
    """A cookie as the banner shows and deletes it: a glob as the regular expression the
    tag tests names with; the catalogue's (English) description in English only."""
    shown = {field: cookie[field] for field in COOKIE_FIELDS}
    shown["match"] = cookie.get("match", "exact")  # what tags before `pattern` read
    if cookie.get("match") == "glob":
        shown["pattern"] = glob_regex(cookie["name"]).pattern
    if language == "en":
        shown["description"] = cookie["description"]
    return shown


def hosting_shown(hosting: dict, controller: dict | None) -> dict:
    """A vendor's hosting as visitors read it: "site" (the site's own servers, in the
    catalogue) is where the site's controller is, the only place a visitor can name."""
    country = (controller or {}).get("country")
    locations = [country if code == "site" and country else code for code in hosting["locations"]]
    return {**hosting, "locations": list(dict.fromkeys(locations))}


@lru_cache(maxsize=4096)
def site_languages(ref: VersionRef) -> tuple[str, ...]:
    """complete_languages of a published version (the banner GET negotiates among them)."""
    return complete_languages(published_content(ref))


@lru_cache(maxsize=4096)
def render(ref: VersionRef, language: str | None, region: Region | None,
           modules: tuple[tuple[str, str], ...] = ()) -> Rendered:
    """The response body and its ETag, in ``language`` or else the version's fallback,
    naming the tag's MODULES. Cached per process: a published version never changes, and
    the key holds everything the body depends on."""
    content = published_content(ref)
    language = language or fallback_language(content)
    mode = mode_for(region, content.get("region_rules") or {})
    document = banner_document(content, ref.number, ref.content_hash, language,
                               region.code if region else None, mode, modules)
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Rendered(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def with_stale(rendered: Rendered, stale: StaleList) -> Rendered:
    """The rendered document with the site's stale receipts (cmp_server.sync) as its last
    members: they change far more often than the rest, which stays cached as it is."""
    return Rendered(rendered.body[:-1] + stale.members + b"}",
                    f'{rendered.etag[:-1]}-{stale.tag}"')
