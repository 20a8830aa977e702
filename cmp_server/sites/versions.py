"""A site's draft configuration and its immutable, numbered published versions.

Publishing copies everything the visitor will be shown (purposes and vendors with their
texts as they are at that moment, the site's texts, theme, rules and lifetimes) into one
document and names it by the SHA-256 of its canonical JSON. Later catalogue edits do not
change a published version.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Iterator

from flask import current_app

from sqlalchemy import bindparam, select

from consent_logs import content_hash
from cmp_server.accounts import audit
from cmp_server.platform.cache import app_cache
from cmp_server.banner.strings import BANNER_LANGUAGES, TEXT_KEYS
from cmp_server.sites.catalogue import retention_months
from cmp_server.sites import google_consent_mode, tcf
from cmp_server.sites.theme import check_theme
from cmp_server.platform.errors import ServiceError
from cmp_server.platform.extensions import db
from cmp_server.platform.geo import validate_region_rules
from cmp_server.models import ConfigVersion, DraftVendor, Purpose, Site, User, Vendor

SNAPSHOT_FORMAT = 1


def set_draft_vendors(
    site: Site, choices: Iterable[tuple[str, str | None]], actor: User | str | None = None
) -> None:
    """Replace the draft's vendor list with ``(vendor_id, retention_tier)`` pairs, in order.
    A tier may only be given for a vendor with tiers, and must be one of them."""
    replace_draft_vendors(site, choices, actor)
    db.session.commit()


def replace_draft_vendors(site: Site, choices: Iterable[tuple[str, str | None]],
                          actor: User | str | None) -> None:
    """set_draft_vendors, left for the caller to commit."""
    choices = list(choices)
    errors: dict[str, list[str]] = {}
    rows = []
    for position, (vendor_id, tier) in enumerate(choices):
        vendor, problems = vendor_choice(site, position, vendor_id, tier)
        errors.update(problems)
        if vendor is not None:
            rows.append(DraftVendor(vendor=vendor, position=position, retention_tier=tier))
    if len({vendor_id for vendor_id, _ in choices}) != len(choices):
        errors["vendors"] = ["a vendor may appear once"]
    if errors:
        raise ServiceError(errors)
    draft = site.draft
    before = [(v.vendor_id, v.retention_tier) for v in draft.vendors]
    draft.vendors = rows
    audit.record(
        actor, "draft.vendors", "site", site.key,
        before={"vendors": before}, after={"vendors": [list(c) for c in choices]},
    )


def vendor_choice(site: Site, position: int, vendor_id: str, tier: str | None
                  ) -> tuple[Vendor | None, dict[str, list[str]]]:
    """The vendor a draft may list at POSITION with retention TIER (the catalogue's, or
    a custom one of the site's workspace), or None and why not."""
    vendor = db.session.get(Vendor, vendor_id)
    if vendor is None or vendor.workspace_id not in (None, site.workspace_id):
        return None, {f"vendors[{position}]": [f"unknown vendor {vendor_id!r}"]}
    tiers = [t["id"] for t in vendor.document["retention"].get("tiers", [])]
    if tier is not None and tier not in tiers:
        reason = (f"tier must be one of: {', '.join(tiers)}" if tiers
                  else f"{vendor_id!r} has no retention tiers")
        return None, {f"vendors[{position}].retention_tier": [reason]}
    return vendor, {}


def check_texts(texts: Any) -> dict[str, list[str]]:
    if not isinstance(texts, dict):
        return {"texts": ["must be an object: {language: {key: text}}"]}
    errors: dict[str, list[str]] = {}
    for language, strings in texts.items():
        if language not in BANNER_LANGUAGES:
            errors[f"texts.{language}"] = [f"unsupported language; use one of {', '.join(BANNER_LANGUAGES)}"]
        elif not isinstance(strings, dict):
            errors[f"texts.{language}"] = ["must be an object: {key: text}"]
        else:
            for key, text in strings.items():
                if key not in TEXT_KEYS:
                    errors[f"texts.{language}.{key}"] = [f"unknown text; use one of {', '.join(TEXT_KEYS)}"]
                elif not isinstance(text, str) or not 1 <= len(text) <= 1000:
                    errors[f"texts.{language}.{key}"] = ["must be 1 to 1000 characters of text"]
    return errors


SETTING_CHECKS = {"texts": check_texts, "theme": check_theme,
                  "google_consent_mode": google_consent_mode.check,
                  "tcf": tcf.check}  # field -> its errors


def update_draft(site: Site, changes: dict[str, Any], actor: User | str | None = None) -> None:
    """Change any of the draft's vendors ([{id, retention_tier}]), extra purposes, texts,
    theme, region rules, Google Consent Mode and IAB TCF settings, all validated before
    anything changes."""
    errors: dict[str, list[str]] = {}
    for field, check in SETTING_CHECKS.items():
        if field in changes:
            errors.update(check(changes[field]))
    if "region_rules" in changes:
        errors.update({f"region_rules.{k}": v
                       for k, v in validate_region_rules(changes["region_rules"]).items()})
    if "extra_purposes" in changes:
        known = {p.id for p in db.session.execute(db.select(Purpose)).scalars()}
        unknown = [p for p in changes["extra_purposes"] if p not in known]
        if unknown:
            errors["extra_purposes"] = [f"unknown purpose(s): {', '.join(unknown)}"]
    if errors:
        raise ServiceError(errors)
    if "tcf" in changes:
        changes = {**changes, "tcf": tcf.normalised(changes["tcf"])}
    if "vendors" in changes:  # validates, and changes nothing when it refuses
        set_draft_vendors(site, [(v["id"], v.get("retention_tier")) for v in changes["vendors"]], actor)
    draft = site.draft
    fields = [key for key in ("texts", "theme", "region_rules", "extra_purposes",
                              "google_consent_mode", "tcf") if key in changes]
    if fields:
        audit.record(actor, "draft.update", "site", site.key,
                     before={key: getattr(draft, key) for key in fields},
                     after={key: changes[key] for key in fields})
        for key in fields:
            setattr(draft, key, changes[key])
        db.session.commit()


def draft_document(site: Site) -> dict[str, Any]:
    draft = site.draft
    return {
        "vendors": [{"id": v.vendor_id, "retention_tier": v.retention_tier} for v in draft.vendors],
        "extra_purposes": draft.extra_purposes, "texts": draft.texts, "theme": draft.theme,
        "region_rules": draft.region_rules, "google_consent_mode": draft.google_consent_mode,
        "tcf": draft.tcf,
        "pending": diff((latest_version(site) or ConfigVersion(content=None)).content, snapshot(site)),
    }


def purpose_entry(purpose: Purpose) -> dict[str, Any]:
    doc = purpose.document
    return {
        "id": purpose.id,
        "required": purpose.required,
        "name": doc["name"],
        "description": doc["description"],
    }


def vendor_entry(document: dict[str, Any], tier: str | None) -> dict[str, Any]:
    """A vendor as a version freezes it: its catalogue document and the site's retention."""
    if tier is None and "tiers" in document["retention"]:
        tier = next(t["id"] for t in document["retention"]["tiers"] if t["default"])
    return {
        **document,
        "retention_tier": tier,
        "retention_months": retention_months(document, tier),
    }


def vendor_terms(entry: dict[str, Any]) -> tuple:
    """What a visitor agreed to about a vendor: what it does, on what legal basis."""
    return sorted(entry["purposes"]), entry["legal_basis"]


def number_terms(vendors: list[dict[str, Any]], history: Iterable[dict[str, Any]]) -> None:
    """Give each vendor whose purposes or legal basis changed since it was first published
    on the site a ``terms_revision`` (1, 2, ...), carried from version to version: the
    consent scope names it, so visitors who chose before are asked again. ``history``
    gives the published contents newest first; a vendor is compared with the newest one
    it is in (a vendor taken off and put back with new terms counts as changed)."""
    before: dict[str, dict[str, Any]] = {}
    wanted = {entry["id"] for entry in vendors}
    for content in history:
        for old in content["vendors"]:
            before.setdefault(old["id"], old)
        if wanted <= before.keys():
            break
    for entry in vendors:
        old = before.get(entry["id"])
        revision = old.get("terms_revision", 0) if old else 0
        if old is not None and vendor_terms(old) != vendor_terms(entry):
            revision += 1
        if revision:
            entry["terms_revision"] = revision


def published_history(site: Site) -> Iterator[dict[str, Any]]:
    """The site's published contents, newest first, read one at a time as needed."""
    numbers = db.session.execute(
        db.select(ConfigVersion.id).filter_by(site_id=site.id)
        .order_by(ConfigVersion.number.desc())).scalars().all()
    for version_id in numbers:
        yield db.session.execute(
            db.select(ConfigVersion.content).filter_by(id=version_id)).scalar_one()


def snapshot(site: Site, cmp_id: int | None = None, strict: bool = False) -> dict[str, Any]:
    """Everything a published version freezes, as plain JSON. Strict (publishing) refuses
    what cannot be published (tcf.frozen); otherwise it is the draft's preview."""
    draft = site.draft
    vendors = [vendor_entry(row.vendor.document, row.retention_tier) for row in draft.vendors]
    return frozen_content(site, vendors, draft.texts, draft.theme, draft.region_rules,
                          draft.extra_purposes, draft.google_consent_mode,
                          tcf.frozen(draft.tcf, current_app.config, cmp_id, strict))


def what_if(site: Site, changes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The snapshot the draft would give with CHANGES (vendors, texts, theme, as
    update_draft takes them), nothing saved: the console's live preview. A change that
    does not validate is left out, and its errors are returned with the snapshot."""
    draft = site.draft
    errors: dict[str, list[str]] = {}
    settings = {}
    for field, check in SETTING_CHECKS.items():
        settings[field] = changes.get(field, getattr(draft, field))
        if problems := check(settings[field]):
            errors.update(problems)
            settings[field] = getattr(draft, field)
    chosen = [(row.vendor, row.retention_tier) for row in draft.vendors]
    if "vendors" in changes:
        chosen = []
        for position, entry in enumerate(changes["vendors"]):
            tier = entry.get("retention_tier")
            vendor, problems = vendor_choice(site, position, entry["id"], tier)
            errors.update(problems)
            if vendor is not None:
                chosen.append((vendor, tier))
    vendors = [vendor_entry(vendor.document, tier) for vendor, tier in chosen]
    return frozen_content(site, vendors, settings["texts"], settings["theme"],
                          draft.region_rules, draft.extra_purposes,
                          settings["google_consent_mode"],
                          tcf.frozen(settings["tcf"], current_app.config, strict=False)), errors


def frozen_content(site: Site, vendors: list[dict[str, Any]], texts: dict, theme: dict,
                   region_rules: dict, extra_purposes: list[str],
                   consent_mode: dict, frozen_tcf: dict | None = None) -> dict[str, Any]:
    """A version's document: the site's settings with these vendors (terms numbered
    against the published history), texts, theme and rules, and its TCF (tcf.frozen)."""
    number_terms(vendors, published_history(site))
    wanted = set(extra_purposes) | {p for v in vendors for p in v["purposes"]}
    purposes = db.session.execute(db.select(Purpose).order_by(Purpose.position)).scalars()
    return {
        "format": SNAPSHOT_FORMAT,
        "site": site.key,
        "default_language": site.default_language,
        "consent_lifetime_months": site.consent_lifetime_months,
        "refusal_lifetime_months": site.refusal_lifetime_months,
        "controller": site.controller,
        "policy_url": site.privacy_policy_url,
        "purposes": [purpose_entry(p) for p in purposes if p.required or p.id in wanted],
        "vendors": vendors,
        "texts": texts,
        "theme": theme,
        "region_rules": region_rules,
        **({"google_consent_mode": consent_mode} if consent_mode else {}),
        **({"tcf": frozen_tcf} if frozen_tcf else {}),
    }


def consent_scope(content: dict[str, Any]) -> set[str]:
    """The purposes and vendors a consent under this content covers. A vendor whose
    purposes or legal basis changed is named with its terms' revision ("vendor:x~1"),
    whatever its legal basis now: a choice made before does not cover it."""
    purposes = {f"purpose:{p['id']}" for p in content["purposes"] if not p["required"]}
    vendors = {
        f"vendor:{v['id']}~{v['terms_revision']}" if v.get("terms_revision")
        else f"vendor:{v['id']}"
        for v in content["vendors"] if v["legal_basis"] == "consent" or v.get("terms_revision")
    }
    return purposes | vendors | tcf.scope(content)


def diff(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """What changed between two published contents, and whether visitors are asked again
    (they are when the new one needs consent for a purpose or vendor the old did not)."""
    old = old or {"purposes": [], "vendors": [], "texts": {}, "theme": {}, "region_rules": {}}
    old_vendors = {v["id"]: v for v in old["vendors"]}
    new_vendors = {v["id"]: v for v in new["vendors"]}
    old_purposes = {p["id"] for p in old["purposes"]}
    new_purposes = {p["id"] for p in new["purposes"]}
    return {
        "vendors_added": sorted(new_vendors.keys() - old_vendors.keys()),
        "vendors_removed": sorted(old_vendors.keys() - new_vendors.keys()),
        "vendors_changed": sorted(
            v for v in new_vendors.keys() & old_vendors.keys() if new_vendors[v] != old_vendors[v]
        ),
        "purposes_added": sorted(new_purposes - old_purposes),
        "purposes_removed": sorted(old_purposes - new_purposes),
        "settings_changed": sorted(
            key for key in ("texts", "theme", "region_rules", "google_consent_mode", "tcf",
                            "default_language",
                            "controller", "policy_url",
                            "consent_lifetime_months", "refusal_lifetime_months")
            if old.get(key) != new.get(key)
        ),
        "asks_again": bool(consent_scope(new) - consent_scope(old)),
    }


@dataclass(frozen=True)
class VersionRef:
    """Names a published version completely: equal refs mean equal content."""

    id: int
    number: int
    content_hash: str


_REF_COLUMNS = (ConfigVersion.id, ConfigVersion.number, ConfigVersion.content_hash)
_SITE_VERSIONS = select(*_REF_COLUMNS).join(Site, Site.id == ConfigVersion.site_id)
_LATEST = (_SITE_VERSIONS.where(Site.key == bindparam("key"))
           .order_by(ConfigVersion.number.desc()).limit(1))
_NUMBERED = _SITE_VERSIONS.where(Site.key == bindparam("key"),
                                 ConfigVersion.number == bindparam("number"))
_CONTENT = select(ConfigVersion.content).where(ConfigVersion.id == bindparam("id"))


def published_ref(site_key: str, number: int | None = None) -> VersionRef | None:
    """The site's newest published version (cached for CMP_CACHE_SECONDS), or the numbered
    one (cached once found: a published version never goes away)."""
    if number is None:
        return app_cache("latest_version").get(site_key, lambda: _query_ref(_LATEST, site_key))
    return app_cache("numbered_version", float("inf")).get(
        (site_key, number), lambda: _query_ref(_NUMBERED, site_key, number), keep_none=False)


def _query_ref(statement, site_key: str, number: int | None = None) -> VersionRef | None:
    row = db.session.connection().execute(statement, {"key": site_key, "number": number}).first()
    return VersionRef(*row) if row else None


@lru_cache(maxsize=1024)
def published_content(ref: VersionRef) -> dict[str, Any]:
    """A published version's content. Versions never change, so each process keeps the
    ones it has read; callers must treat the result as read-only."""
    return db.session.connection().execute(_CONTENT, {"id": ref.id}).scalar_one()


def latest_version(site: Site) -> ConfigVersion | None:
    return db.session.execute(
        db.select(ConfigVersion)
        .filter_by(site_id=site.id)
        .order_by(ConfigVersion.number.desc())
        .limit(1)
    ).scalar_one_or_none()


def publish(site: Site, actor: User | str | None = None, cmp_id: int | None = None
            ) -> tuple[ConfigVersion, dict[str, Any]]:
    """Freeze the draft as the next version. Publishing an unchanged draft returns the
    current version and an empty diff instead of a duplicate. ``cmp_id`` stands in for
    CMP_TCF_CMP_ID (the demo publishes a TCF site with a placeholder id)."""
    missing = [
        field for field, value in (("controller", site.controller),
                                   ("privacy_policy_url", site.privacy_policy_url)) if not value
    ]
    if missing:
        raise ServiceError(
            {field: ["required before publishing: the banner must name the data controller "
                     "and link the privacy policy"] for field in missing},
            "The site is not ready to publish.",
        )
    content = snapshot(site, cmp_id, strict=True)
    digest = content_hash(content)
    current = latest_version(site)
    if current is not None and current.content_hash == digest:
        return current, diff(current.content, content)
    changes = diff(current.content if current else None, content)
    version = ConfigVersion(
        site_id=site.id,
        number=(current.number + 1) if current else 1,
        content=content,
        content_hash=digest,
        published_by_id=actor.id if isinstance(actor, User) else None,
    )
    db.session.add(version)
    audit.record(
        actor, "config.publish", "site", site.key,
        before={"number": current.number, "hash": current.content_hash} if current else None,
        after={"number": version.number, "hash": digest, "changes": changes},
    )
    db.session.commit()
    return version, changes


def version_content(site: Site, number: int) -> dict[str, Any]:
    version = db.session.execute(db.select(ConfigVersion).filter_by(
        site_id=site.id, number=number)).scalar_one_or_none()
    if version is None:
        raise ServiceError({"version": [f"the site has no version {number}"]})
    return version.content


def roll_back(site: Site, number: int, actor: User | str | None = None,
              cmp_id: int | None = None) -> tuple[ConfigVersion, dict[str, Any]]:
    """Publish version ``number``'s content again, as a new version: its vendors (with
    their facts as the catalogue has them now), texts, look, region rules, lifetimes,
    controller and policy become the draft and the site's settings, and are published;
    its TCF vendors and ATPs too, with the newest stored Global Vendor List.
    Visitors are asked again when that needs consent their choices did not cover."""
    content = version_content(site, number)
    replace_draft_vendors(site, [(v["id"], v.get("retention_tier")) for v in content["vendors"]],
                          actor)
    draft = site.draft
    by_vendors = {p for v in content["vendors"] for p in v["purposes"]}
    draft.extra_purposes = [p["id"] for p in content["purposes"]
                            if not p["required"] and p["id"] not in by_vendors]
    draft.texts, draft.theme = content["texts"], content["theme"]
    draft.region_rules = content["region_rules"]
    draft.google_consent_mode = content.get("google_consent_mode", {})
    draft.tcf = tcf.draft_setting(content)
    site.default_language = content["default_language"]
    site.consent_lifetime_months = content["consent_lifetime_months"]
    site.refusal_lifetime_months = content["refusal_lifetime_months"]
    site.controller, site.privacy_policy_url = content["controller"], content["policy_url"]
    audit.record(actor, "config.rollback", "site", site.key, after={"to_content_of": number})
    return publish(site, actor, cmp_id)
