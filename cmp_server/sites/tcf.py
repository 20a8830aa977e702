"""IAB TCF v2.3 for a site: on or off, the site's vendors from the Global Vendor List and
its Google Additional Consent (ATP) providers.

The draft holds ``{"enabled": bool, "vendors": [GVL ids], "google_atps": [{id, name,
policy_url}]}`` ({} is off). Publishing freezes, from the newest stored GVL, the GVL
limited to the site's vendors, the translations of its purposes, and the operator's CMP id
and version (frozen below): the banner's TCF module and the consent validation read
nothing else. A new GVL version reaches a site when it is next published."""
from __future__ import annotations

import copy
from typing import Any, Mapping
from urllib.parse import urlsplit

from consent_logs import content_hash
from cmp_server.models import ConfigVersion, Site
from cmp_server.platform.errors import ServiceError
from cmp_server.platform.extensions import db
from cmp_server.sites import gvl

MAX_VENDORS = 1000
MAX_ATPS = 500
MAX_NAME = 200
FIELDS = ("enabled", "vendors", "google_atps")
FETCH_FIRST = "no Global Vendor List is stored: run `flask cmp gvl-fetch` first"
REGISTER = ("register the platform as a CMP with IAB Europe and set CMP_TCF_CMP_ID to the "
            "id it gives you")


def check(settings: Any) -> dict[str, list[str]]:
    """Errors by ``tcf.<field>``: vendors must be in the newest stored GVL and not deleted
    from it; ATPs need an id, a name and an https policy."""
    if not isinstance(settings, dict):
        return {"tcf": ["must be an object: {enabled, vendors, google_atps}"]}
    errors: dict[str, list[str]] = {}
    for key in settings.keys() - set(FIELDS):
        errors[f"tcf.{key}"] = [f"unknown setting; use one of {', '.join(FIELDS)}"]
    enabled = settings.get("enabled", False)
    if not isinstance(enabled, bool):
        errors["tcf.enabled"] = ["must be true or false"]
    latest = gvl.latest_summary() if enabled is True or settings.get("vendors") else None
    if enabled is True and latest is None:
        errors["tcf.enabled"] = [FETCH_FIRST]
    errors.update(check_vendors(settings.get("vendors", []), latest))
    errors.update(check_atps(settings.get("google_atps", [])))
    return errors


def check_vendors(chosen: Any, latest: dict[str, Any] | None) -> dict[str, list[str]]:
    if not isinstance(chosen, list) or not all(gvl.is_int(v) for v in chosen):
        return {"tcf.vendors": ["must be a list of Global Vendor List vendor ids"]}
    if len(chosen) > MAX_VENDORS:
        return {"tcf.vendors": [f"at most {MAX_VENDORS} vendors, got {len(chosen)}"]}
    if len(set(chosen)) != len(chosen):
        return {"tcf.vendors": ["a vendor may appear once"]}
    if not chosen:
        return {}
    if latest is None:
        return {"tcf.vendors": [FETCH_FIRST]}
    errors = {}
    for position, vendor_id in enumerate(chosen):
        vendor = latest["vendors"].get(vendor_id)
        if vendor is None:
            errors[f"tcf.vendors[{position}]"] = [
                f"vendor {vendor_id} is not in the Global Vendor List (version {latest['version']})"]
        elif "deletedDate" in vendor:
            errors[f"tcf.vendors[{position}]"] = [
                f"vendor {vendor_id} ({vendor['name']}) was deleted from the Global Vendor "
                f"List on {vendor['deletedDate']}"]
    return errors


def check_atps(atps: Any) -> dict[str, list[str]]:
    if not isinstance(atps, list):
        return {"tcf.google_atps": ["must be a list of {id, name, policy_url}"]}
    if len(atps) > MAX_ATPS:
        return {"tcf.google_atps": [f"at most {MAX_ATPS} Google ATPs, got {len(atps)}"]}
    errors: dict[str, list[str]] = {}
    seen = set()
    for index, atp in enumerate(atps):
        at = f"tcf.google_atps[{index}]"
        if not isinstance(atp, dict):
            errors[at] = ["must be an object: {id, name, policy_url}"]
            continue
        for key in atp.keys() - {"id", "name", "policy_url"}:
            errors[f"{at}.{key}"] = ["unknown field; use id, name, policy_url"]
        if not gvl.is_int(atp.get("id")) or atp["id"] < 1:
            errors[f"{at}.id"] = ["required: Google's provider id, a whole number from 1"]
        elif atp["id"] in seen:
            errors[f"{at}.id"] = [f"provider {atp['id']} is listed twice"]
        else:
            seen.add(atp["id"])
        name = atp.get("name")
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= MAX_NAME:
            errors[f"{at}.name"] = [f"required: 1 to {MAX_NAME} characters"]
        if not is_https(atp.get("policy_url")):
            errors[f"{at}.policy_url"] = ["required: the provider's privacy policy, an https:// address"]
    return errors


def is_https(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 2000:
        return False
    parts = urlsplit(value)
    return parts.scheme == "https" and bool(parts.hostname) and " " not in value


def normalised(settings: dict[str, Any]) -> dict[str, Any]:
    """A checked setting as the draft keeps it: vendors sorted, names trimmed; {} for off
    with nothing chosen."""
    if not settings.get("enabled") and not settings.get("vendors") and not settings.get("google_atps"):
        return {}
    return {"enabled": bool(settings.get("enabled")),
            "vendors": sorted(settings.get("vendors", [])),
            "google_atps": [{"id": a["id"], "name": a["name"].strip(), "policy_url": a["policy_url"]}
                            for a in settings.get("google_atps", [])]}


def frozen(settings: dict[str, Any], app_config: Mapping[str, Any], cmp_id: int | None = None,
           strict: bool = True) -> dict[str, Any] | None:
    """What a published version freezes for a site with TCF on (None when off): the CMP's
    id and version, the newest stored GVL limited to the site's vendors, its translations
    and the Google ATPs. ``cmp_id`` overrides CMP_TCF_CMP_ID (the demo's placeholder).

    Strict (publishing) refuses without a CMP id or a GVL, or with a vendor the GVL no
    longer lists; otherwise (a draft's preview) the CMP id may be None and such vendors
    are left out."""
    if not settings.get("enabled"):
        return None
    cmp_id = cmp_id if cmp_id is not None else app_config.get("CMP_TCF_CMP_ID")
    latest = gvl.latest_summary()
    if strict:
        errors = {}
        if cmp_id is None:
            errors["tcf.cmp_id"] = [f"IAB TCF is on but the platform has no CMP id: {REGISTER}"]
        if latest is None:
            errors["tcf.enabled"] = [FETCH_FIRST]
        else:
            errors.update(check_vendors(settings.get("vendors", []), latest))
        if errors:
            raise ServiceError(errors, "The site's IAB TCF setting cannot be published.")
    if latest is None:
        return None
    return frozen_from(latest["document"], latest["translations"], settings, cmp_id,
                       app_config.get("CMP_TCF_CMP_VERSION", 1))


def frozen_from(document: dict[str, Any], translations: dict[str, Any], settings: dict[str, Any],
                cmp_id: int | None, cmp_version: int) -> dict[str, Any]:
    """The frozen TCF from a GVL document and its translations (a copy: the stored GVL a
    process keeps is never handed out)."""
    vendors = {}
    for vendor_id in sorted(settings.get("vendors", [])):
        vendor = document["vendors"].get(str(vendor_id))
        if vendor is not None and "deletedDate" not in vendor:
            vendors[str(vendor_id)] = vendor
    return copy.deepcopy({
        "cmp_id": cmp_id,
        "cmp_version": cmp_version,
        "gvl": {
            **{key: document[key] for key in ("gvlSpecificationVersion", "vendorListVersion",
                                              "tcfPolicyVersion", "lastUpdated")},
            **{section: document[section] for section in gvl.TRANSLATED},
            "vendors": vendors,
        },
        "translations": {language: {section: translated.get(section, {})
                                    for section in gvl.TRANSLATED}
                         for language, translated in sorted(translations.items())},
        "google_atps": list(settings.get("google_atps", [])),
    })


# The TC string's largest CMP id, far beyond IAB Europe's registrations: what the demo and
# the console's previews signal while CMP_TCF_CMP_ID is unset (vendors ignore strings of
# unregistered CMPs).
PLACEHOLDER_CMP_ID = 4095

# what a vendor declares that a visitor's choice is about
DECLARED = ("purposes", "legIntPurposes", "flexiblePurposes", "specialPurposes", "features",
            "specialFeatures")


def scope(content: dict[str, Any]) -> set[str]:
    """What a consent under this content covers for TCF, as one entry: a digest of its
    vendors with what each declares, and its Google ATPs. A vendor or ATP added or gone, or
    a GVL update that changes what a vendor does, asks again; a new GVL version alone does
    not. One entry, not one per vendor: the scope travels in the visitor's cookie."""
    frozen_tcf = content.get("tcf")
    if not frozen_tcf:
        return set()
    declared = [[int(vendor_id), *(vendor.get(field, []) for field in DECLARED)]
                for vendor_id, vendor in sorted(frozen_tcf["gvl"]["vendors"].items(), key=lambda x: int(x[0]))]
    atps = sorted(atp["id"] for atp in frozen_tcf.get("google_atps", []))
    return {"tcf:" + content_hash({"vendors": declared, "atps": atps})[:16]}


def draft_setting(content: dict[str, Any]) -> dict[str, Any]:
    """The draft setting a published content came from (for rolling back to it)."""
    frozen_tcf = content.get("tcf")
    if not frozen_tcf:
        return {}
    return {"enabled": True, "vendors": sorted(int(v) for v in frozen_tcf["gvl"]["vendors"]),
            "google_atps": frozen_tcf.get("google_atps", [])}


def sites_on_older_gvl(version: int) -> list[tuple[Site, int]]:
    """(site, its GVL version) for each site whose newest published version freezes a GVL
    older than VERSION: they take the new one when next published."""
    newest = (db.select(ConfigVersion.site_id, db.func.max(ConfigVersion.number).label("number"))
              .group_by(ConfigVersion.site_id).subquery())
    rows = db.session.execute(
        db.select(Site, ConfigVersion.content)
        .join(ConfigVersion, ConfigVersion.site_id == Site.id)
        .join(newest, (newest.c.site_id == ConfigVersion.site_id)
              & (newest.c.number == ConfigVersion.number))
        .order_by(Site.name)).all()
    return [(site, content["tcf"]["gvl"]["vendorListVersion"]) for site, content in rows
            if content.get("tcf") and content["tcf"]["gvl"]["vendorListVersion"] < version]
