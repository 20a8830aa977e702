"""What the banner needs for one visitor: the site's published configuration in one
language, with the consent mode of the visitor's region, and every text the banner shows
in that language (its own strings with the site's rewrites: the tag carries none). Immutable versions make the
rendered body safe to keep per process, keyed by everything it depends on."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cmp_server.banner.strings import STRINGS
from cmp_server.sites import google_consent_mode
from cmp_server.sites.catalogue import CATALOGUE_LANGUAGES
from cmp_server.sites.versions import VersionRef, consent_scope, published_content
from cmp_server.platform.geo import Region, mode_for
from cmp_server.consent.sync import StaleList
from cmp_server.platform.languages import localise

VENDOR_FIELDS = ("id", "name", "purposes", "legal_basis", "policy_url", "hosts",
                 "retention_months", "hosting", "cookies")


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
        "languages": list(CATALOGUE_LANGUAGES),
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
             "company": v["company"]["name"], "description": text(v["description"]),
             "hosting": hosting_shown(v["hosting"], content["controller"])}
            for v in content["vendors"]
        ],
        "texts": site_texts,
        "strings": {**STRINGS.get(language, STRINGS["en"]), **site_texts},
        "theme": content["theme"],
        "google_consent_mode": google_consent_mode.for_banner(content),
        "consent_scope": sorted(consent_scope(content)),
        "modules": dict(modules),
    }


def hosting_shown(hosting: dict, controller: dict | None) -> dict:
    """A vendor's hosting as visitors read it: "site" (the site's own servers, in the
    catalogue) is where the site's controller is, the only place a visitor can name."""
    country = (controller or {}).get("country")
    locations = [country if code == "site" and country else code for code in hosting["locations"]]
    return {**hosting, "locations": list(dict.fromkeys(locations))}


@lru_cache(maxsize=4096)
def render(ref: VersionRef, language: str | None, region: Region | None,
           modules: tuple[tuple[str, str], ...] = ()) -> Rendered:
    """The response body and its ETag, in ``language`` or else the version's default,
    naming the tag's MODULES. Cached per process: a published version never changes, and
    the key holds everything the body depends on."""
    content = published_content(ref)
    language = language or content["default_language"]
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
