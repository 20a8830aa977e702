"""Sites: who embeds the banner, from which origins, with which lifetimes."""
from __future__ import annotations

import ipaddress
import re
import secrets
from typing import Any, Iterable
from urllib.parse import urlsplit

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from cmp_server.accounts import audit, workspaces
from cmp_server.platform.cache import app_cache
from cmp_server.sites.catalogue import CATALOGUE_LANGUAGES
from cmp_server.platform.errors import NotFound, ServiceError
from cmp_server.platform.extensions import db
from cmp_server.platform.schemas import FullMatch, StrictSchema, validated
from cmp_server.models import (
    DEFAULT_CONSENT_LIFETIME_MONTHS,
    DEFAULT_REFUSAL_LIFETIME_MONTHS,
    MAX_CONSENT_LIFETIME_MONTHS,
    DraftConfig,
    Role,
    Site,
    SiteOrigin,
    User,
)


HOST_NAME = re.compile(r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*")


def origin_host(value: str, hostname: str) -> str:
    """A host name in ASCII (an international name in its xn-- form, as browsers send it in
    Origin), or an IP address in brackets for IPv6; anything else (quotes, angle brackets,
    spaces, percent signs) is refused."""
    if ":" in hostname:
        try:
            return f"[{ipaddress.IPv6Address(hostname)}]"
        except ValueError:
            raise ValidationError(f"{value!r}: invalid IPv6 address") from None
    try:
        ascii_name = hostname.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_name = ""
    if not HOST_NAME.fullmatch(ascii_name):
        raise ValidationError(f"{value!r}: host must be a domain name or an IP address")
    return ascii_name


def normalise_origin(value: str) -> str:
    """``scheme://host[:port]`` in lower case, default ports dropped; anything else (a path,
    a query, credentials, another scheme) is refused with the reason."""
    try:
        parts = urlsplit(value.strip())
    except ValueError:  # an unbalanced or invalid [IPv6] host
        raise ValidationError(f"{value!r}: invalid host") from None
    if parts.scheme not in ("http", "https"):
        raise ValidationError(f"{value!r}: scheme must be http or https")
    if not parts.hostname:
        raise ValidationError(f"{value!r}: has no host")
    if parts.username or parts.password:
        raise ValidationError(f"{value!r}: must not contain credentials")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValidationError(f"{value!r}: an origin has no path, query or fragment")
    try:
        port = parts.port
    except ValueError:
        raise ValidationError(f"{value!r}: invalid port") from None
    default_port = {"http": 80, "https": 443}[parts.scheme]
    host = origin_host(value, parts.hostname)
    suffix = f":{port}" if port and port != default_port else ""
    return f"{parts.scheme}://{host}{suffix}"


class Origin(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        return normalise_origin(super()._deserialize(value, attr, data, **kwargs))


class ControllerSchema(StrictSchema):
    """The data controller named in the banner and in every receipt."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    address = fields.String(required=True, validate=validate.Length(min=1, max=500))
    country = fields.String(
        required=True,
        validate=FullMatch(r"^[A-Z]{2}$", error="must be an ISO 3166-1 alpha-2 code"),
    )
    email = fields.Email(required=True)
    phone = fields.String(validate=validate.Length(max=50))


SITE_DEFAULTS = {
    "origins": list, "privacy_policy_url": None, "default_language": "en",
    "consent_lifetime_months": DEFAULT_CONSENT_LIFETIME_MONTHS,
    "refusal_lifetime_months": DEFAULT_REFUSAL_LIFETIME_MONTHS,
}


class SiteSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    origins = fields.List(Origin(), validate=validate.Length(max=50))
    controller = fields.Nested(ControllerSchema)
    privacy_policy_url = fields.Url(schemes={"https", "http"}, allow_none=True)
    default_language = fields.String(
        validate=validate.OneOf(
            CATALOGUE_LANGUAGES, error="must be one of: " + ", ".join(CATALOGUE_LANGUAGES)
        ),
    )
    consent_lifetime_months = fields.Integer(
        strict=True,
        validate=validate.Range(
            1, MAX_CONSENT_LIFETIME_MONTHS,
            error=f"must be between 1 and {MAX_CONSENT_LIFETIME_MONTHS} months",
        ),
    )
    refusal_lifetime_months = fields.Integer(
        strict=True,
        validate=validate.Range(
            1, MAX_CONSENT_LIFETIME_MONTHS,
            error=f"must be between 1 and {MAX_CONSENT_LIFETIME_MONTHS} months",
        ),
    )

    @post_load
    def fill_defaults(self, data, partial=False, **_kwargs):
        """Defaults for a new site; a partial load (an update) keeps only what was sent."""
        if not partial:
            for field, default in SITE_DEFAULTS.items():
                data.setdefault(field, default() if callable(default) else default)
        return data

    @validates_schema
    def refusal_not_longer_than_consent(self, data, **_kwargs):
        consent = data.get("consent_lifetime_months", DEFAULT_CONSENT_LIFETIME_MONTHS)
        if data.get("refusal_lifetime_months", 0) > consent:
            raise ValidationError(
                "a refusal is not remembered longer than a consent", "refusal_lifetime_months"
            )


def site_summary(site: Site) -> dict[str, Any]:
    """The audit trail's picture of a site."""
    return {
        "key": site.key,
        "workspace": site.workspace_id,
        "name": site.name,
        "origins": site.origin_list,
        "default_language": site.default_language,
        "consent_lifetime_months": site.consent_lifetime_months,
        "refusal_lifetime_months": site.refusal_lifetime_months,
        "controller": site.controller,
        "privacy_policy_url": site.privacy_policy_url,
    }


def new_site_key() -> str:
    """16 URL-safe characters (96 random bits): public, but not enumerable."""
    return secrets.token_urlsafe(12)


def create_site(payload: dict[str, Any], actor: User | str | None = None,
                workspace_id: int | None = None) -> Site:
    """A new site in ``workspace_id``, or in the one workspace the actor (or, from the
    command line, the install) has."""
    data = validated(SiteSchema(), payload)
    user = actor if isinstance(actor, User) else None
    workspace = workspaces.target(user, workspace_id, (Role.MARKETER.value,))
    site = Site(
        key=new_site_key(),
        workspace_id=workspace.id,
        name=data["name"],
        default_language=data["default_language"],
        consent_lifetime_months=data["consent_lifetime_months"],
        refusal_lifetime_months=data["refusal_lifetime_months"],
        controller=data.get("controller", {}),  # none yet: required before publishing
        privacy_policy_url=data["privacy_policy_url"],
        origins=[SiteOrigin(origin=o) for o in dict.fromkeys(data["origins"])],
        draft=DraftConfig(extra_purposes=[], texts={}, theme={}, region_rules={}),
    )
    db.session.add(site)
    db.session.flush()
    audit.record(actor, "site.create", "site", site.key, after=site_summary(site))
    db.session.commit()
    return site


def update_site(site: Site, payload: dict[str, Any], actor: User | str | None = None) -> Site:
    """Change any of a site's settings; origins, when given, replace the list."""
    data = validated(SiteSchema(partial=True), payload)
    consent = data.get("consent_lifetime_months", site.consent_lifetime_months)
    if data.get("refusal_lifetime_months", site.refusal_lifetime_months) > consent:
        raise ServiceError({"refusal_lifetime_months": [
            "a refusal is not remembered longer than a consent"]})
    before = site_summary(site)
    for field in ("name", "default_language", "consent_lifetime_months",
                  "refusal_lifetime_months", "controller", "privacy_policy_url"):
        if field in data:
            setattr(site, field, data[field])
    if "origins" in data:
        # kept origins keep their rows: inserting them anew before the old rows are
        # deleted would break the (site, origin) uniqueness
        kept = {o.origin: o for o in site.origins}
        site.origins = [kept.get(o) or SiteOrigin(origin=o) for o in dict.fromkeys(data["origins"])]
    db.session.flush()
    audit.record(actor, "site.update", "site", site.key, before=before, after=site_summary(site))
    db.session.commit()
    return site


def get_site(key: str, user: User | None = None, roles: Iterable[str] = ()) -> Site:
    """The site; for a user, only if they hold one of ``roles`` in its workspace (else 404,
    as if it did not exist; workspaces)."""
    site = db.session.execute(db.select(Site).filter_by(key=key)).scalar_one_or_none()
    if site is None or (user is not None and not workspaces.can(user, site.workspace_id, roles)):
        raise NotFound("site", key)
    return site


def visible_sites(user: User, roles: Iterable[str]) -> list[Site]:
    """The sites of the workspaces in which the user holds one of ``roles``, by name."""
    return list(db.session.execute(
        db.select(Site).where(Site.workspace_id.in_(workspaces.visible_ids(user, roles)))
        .order_by(Site.name)).scalars())


def origin_allowed(origin: str, site_key: str | None) -> bool:
    """Whether ``origin`` is registered for the site, or for any site when none is named
    (a CORS preflight does not say which site it is for). Cached for CMP_CACHE_SECONDS."""
    return app_cache("origins").get((origin, site_key), lambda: _origin_registered(origin, site_key))


def _origin_registered(origin: str, site_key: str | None) -> bool:
    query = db.select(SiteOrigin.id).where(SiteOrigin.origin == origin)
    if site_key:
        query = query.join(Site, Site.id == SiteOrigin.site_id).where(Site.key == site_key)
    return db.session.execute(query.limit(1)).first() is not None
