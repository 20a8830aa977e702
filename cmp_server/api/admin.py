"""The admin REST API: sites and origins, the catalogue, a site's draft, publishing, users.

Marketers (and admins) configure; compliance officers may read sites; only admins manage
users. Same error shape and validation as the public API; an API token or a console
session (with X-CSRF-Token for writes) authenticates.
"""
from __future__ import annotations

from datetime import datetime, timezone

from flask import jsonify
from flask_smorest import Blueprint
from marshmallow import fields, validate

from cmp_server.accounts import auth, members, sessions, tokens, users, workspaces
from cmp_server.consent import analytics
from cmp_server.sites import registry, vendors, versions
from cmp_server.api.docs import PRIVATE
from cmp_server.sites.catalogue import VendorSchema
from cmp_server.sites.theme import THEME
from cmp_server.banner.strings import BANNER_LANGUAGES, TEXT_KEYS
from cmp_server.platform.extensions import db
from cmp_server.models import OPERATOR, CollectionToken, Role, Site, User
from cmp_server.platform.schemas import StrictSchema, UTCDateTime

blp = Blueprint("admin_api", __name__, url_prefix="/api/v1/admin",
                description="Configure sites, vendors and banners (marketer); a workspace's "
                            "members (its admin); workspaces and users (operator).")
MARKETER, COMPLIANCE, ADMIN = Role.MARKETER.value, Role.COMPLIANCE.value, Role.ADMIN.value
AUTH_ERRORS = {401: "No session or API token.", 403: "Not a role allowed here."}
READERS = (MARKETER, COMPLIANCE)  # who may read a site


def own_site(site_key: str, *roles: str):
    """The caller's site: another workspace's is 404, as an unknown one."""
    return registry.get_site(site_key, auth.current_user(), roles or (MARKETER,))


def documented(view):
    view = blp.doc(security=PRIVATE)(view)
    for status, text in AUTH_ERRORS.items():
        view = blp.alt_response(status, description=text)(view)
    return blp.alt_response(422, description="Invalid input: errors name each field.")(view)


class SiteUpdate(registry.SiteSchema):
    """Any subset of a site's settings (a distinct name in the OpenAPI document)."""


class SiteCreate(registry.SiteSchema):
    workspace = fields.Integer(strict=True, validate=validate.Range(1, 2**31 - 1), metadata={
        "description": "Required when you are a marketer in several workspaces."})


class SiteOut(StrictSchema):
    key = fields.String()
    workspace = fields.Integer()
    name = fields.String()
    origins = fields.List(fields.String())
    default_language = fields.String()
    consent_lifetime_months = fields.Integer()
    refusal_lifetime_months = fields.Integer()
    controller = fields.Dict()
    privacy_policy_url = fields.String(allow_none=True)
    published_version = fields.Integer(allow_none=True)


def site_out(site: Site) -> dict:
    latest = versions.latest_version(site)
    return {**registry.site_summary(site), "published_version": latest.number if latest else None}


class VendorChoice(StrictSchema):
    id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    retention_tier = fields.String(load_default=None, allow_none=True)


class DraftUpdate(StrictSchema):
    vendors = fields.List(fields.Nested(VendorChoice), validate=validate.Length(max=500))
    extra_purposes = fields.List(fields.String(validate=validate.Length(max=64)))
    texts = fields.Dict(keys=fields.String(validate=validate.OneOf(BANNER_LANGUAGES)),
                        values=fields.Dict(keys=fields.String(validate=validate.OneOf(TEXT_KEYS)),
                                           values=fields.String(validate=validate.Length(1, 1000))))
    theme = fields.Dict(keys=fields.String(validate=validate.OneOf(list(THEME))),
                        values=fields.String(validate=validate.Length(max=100)))
    region_rules = fields.Dict(keys=fields.String(validate=validate.Length(max=10)),
                               values=fields.String(validate=validate.OneOf(
                                   ["opt-in", "opt-out", "none"])))
    google_consent_mode = fields.Dict(metadata={
        "description": "mode (basic: Google's tags wait for consent; advanced: they load at "
                       "once with every signal denied), ads_data_redaction and "
                       "url_passthrough (true or false)."})
    tcf = fields.Dict(metadata={
        "description": "IAB TCF: enabled (true or false), vendors (Global Vendor List ids, "
                       "at most 1000, each in the newest stored GVL) and google_atps "
                       "([{id, name, policy_url}], at most 500); {} is off."})


class Draft(StrictSchema):
    vendors = fields.List(fields.Dict())
    extra_purposes = fields.List(fields.String())
    texts = fields.Dict()
    theme = fields.Dict()
    region_rules = fields.Dict()
    google_consent_mode = fields.Dict()
    tcf = fields.Dict()
    pending = fields.Dict(metadata={"description": "What publishing now would change."})


class Published(StrictSchema):
    version = fields.Integer()
    hash = fields.String()
    changes = fields.Dict()


class VendorQuery(StrictSchema):
    q = fields.String(validate=validate.Length(max=100))
    purpose = fields.String(validate=validate.Length(max=64))


class WorkspaceQuery(StrictSchema):
    workspace = fields.Integer(strict=False, validate=validate.Range(1, 2**31 - 1), metadata={
        "description": "The new vendor's workspace; required when you are a marketer in "
                       "several."})


class VendorOut(StrictSchema):
    id = fields.String()
    name = fields.String()
    source = fields.String()
    workspace = fields.Integer(allow_none=True, metadata={
        "description": "A custom vendor's workspace; none for the catalogue's."})
    purposes = fields.List(fields.String())
    legal_basis = fields.String()
    document = fields.Dict()


def vendor_out(vendor) -> dict:
    return {"id": vendor.id, "name": vendor.name, "source": vendor.source,
            "workspace": vendor.workspace_id,
            "purposes": [p.id for p in vendor.purposes], "legal_basis": vendor.legal_basis,
            "document": vendor.document}


class MembershipOut(StrictSchema):
    workspace = fields.Integer(attribute="workspace_id")
    role = fields.String()


class UserOut(StrictSchema):
    id = fields.Integer()
    email = fields.String()
    operator = fields.Boolean()
    active = fields.Boolean()
    memberships = fields.List(fields.Nested(MembershipOut))


class WorkspaceOut(StrictSchema):
    id = fields.Integer()
    name = fields.String()


class MemberOut(StrictSchema):
    user = fields.Integer(attribute="user_id")
    email = fields.String(attribute="user.email")
    role = fields.String()


# --- sites ------------------------------------------------------------------------------------

@blp.route("/sites")
@auth.api_for(MARKETER, COMPLIANCE)
@blp.response(200, SiteOut(many=True))
@documented
def list_sites():
    """The sites of your workspaces."""
    return [site_out(s) for s in registry.visible_sites(auth.current_user(), READERS)]


@blp.route("/sites", methods=["POST"])
@auth.api_for(MARKETER)
@blp.arguments(SiteCreate())
@blp.response(201, SiteOut)
@documented
@blp.alt_response(404, description="Not one of your workspaces.")
def create_site(data):
    """Create a site in one of your workspaces; its key is in the answer."""
    workspace = data.pop("workspace", None)
    return site_out(registry.create_site(data, auth.current_user(), workspace))


@blp.route("/sites/<site_key>")
@auth.api_for(MARKETER, COMPLIANCE)
@blp.response(200, SiteOut)
@documented
@blp.alt_response(404, description="Unknown site.")
def get_site(site_key: str):
    """One site."""
    return site_out(own_site(site_key, *READERS))


@blp.route("/sites/<site_key>", methods=["PATCH"])
@auth.api_for(MARKETER)
@blp.arguments(SiteUpdate(partial=True))
@blp.response(200, SiteOut)
@documented
@blp.alt_response(404, description="Unknown site.")
def update_site(data, site_key: str):
    """Change a site's settings: name, origins (replaced), language, lifetimes, controller."""
    return site_out(registry.update_site(own_site(site_key), data, auth.current_user()))


# --- draft and publishing -----------------------------------------------------------------------

@blp.route("/sites/<site_key>/draft")
@auth.api_for(MARKETER)
@blp.response(200, Draft)
@documented
@blp.alt_response(404, description="Unknown site.")
def get_draft(site_key: str):
    """The draft, with what publishing it now would change."""
    return versions.draft_document(own_site(site_key))


@blp.route("/sites/<site_key>/draft", methods=["PATCH"])
@auth.api_for(MARKETER)
@blp.arguments(DraftUpdate())
@blp.response(200, Draft)
@documented
@blp.alt_response(404, description="Unknown site.")
def update_draft(data, site_key: str):
    """Change vendors (with retention tiers), extra purposes, texts, theme, region rules."""
    site = own_site(site_key)
    versions.update_draft(site, data, auth.current_user())
    return versions.draft_document(site)


@blp.route("/sites/<site_key>/publish", methods=["POST"])
@auth.api_for(MARKETER)
@blp.response(201, Published)
@documented
@blp.alt_response(404, description="Unknown site.")
def publish(site_key: str):
    """Freeze the draft as the next version; answers its diff against the previous one
    (asks_again: visitors will be asked again)."""
    version, changes = versions.publish(own_site(site_key), auth.current_user())
    return {"version": version.number, "hash": version.content_hash, "changes": changes}


class PeriodQuery(StrictSchema):
    start = fields.Date(required=True, data_key="from")
    end = fields.Date(required=True, data_key="to")


@blp.route("/sites/<site_key>/analytics")
@auth.api_for(MARKETER, COMPLIANCE)
@blp.arguments(PeriodQuery(), location="query")
@blp.alt_response(200, description="Choice rates, grant rates per purpose and vendor, "
                                   "impressions and how many saw the banner without choosing.")
@documented
@blp.alt_response(404, description="Unknown site.")
def site_analytics(query, site_key: str):
    """Consent analytics for records issued in [from, to)."""
    found = own_site(site_key, *READERS)
    return jsonify(analytics.site_analytics(found.key, day_start(query["start"]),
                                            day_start(query["end"])))


def day_start(value) -> datetime:
    return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)


# --- collection tokens: the site's servers recording consents ------------------------------------

class CollectionTokenIn(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))


class CollectionTokenOut(StrictSchema):
    id = fields.Integer()
    name = fields.String()
    prefix = fields.String(metadata={"description": "The token's first characters, to recognise it."})
    created_by = fields.String()
    created_at = UTCDateTime()
    last_used_at = UTCDateTime(allow_none=True)
    revoked_at = UTCDateTime(allow_none=True)
    token = fields.String(metadata={"description": "Only in the answer that creates it."})


@blp.route("/sites/<site_key>/collection-tokens")
@auth.api_for(MARKETER)
@blp.response(200, CollectionTokenOut(many=True))
@documented
@blp.alt_response(404, description="Unknown site.")
def list_collection_tokens(site_key: str):
    """The site's collection tokens, revoked ones included (never the secrets)."""
    site = own_site(site_key)
    return db.session.execute(db.select(CollectionToken).filter_by(site_id=site.id)
                              .order_by(CollectionToken.id)).scalars().all()


@blp.route("/sites/<site_key>/collection-tokens", methods=["POST"])
@auth.api_for(MARKETER)
@blp.arguments(CollectionTokenIn())
@blp.response(201, CollectionTokenOut)
@documented
@blp.alt_response(404, description="Unknown site.")
def create_collection_token(data, site_key: str):
    """A token with which the site's own servers record consents (POST /api/v1/consents
    without Origin, `Authorization: Bearer <token>`). Shown once, in this answer."""
    token, secret = tokens.create_collection_token(own_site(site_key), data["name"],
                                                 auth.current_user())
    shown = {name: getattr(token, name) for name in CollectionTokenOut._declared_fields
             if name != "token"}
    return {**shown, "token": secret}


@blp.route("/sites/<site_key>/collection-tokens/<int:token_id>", methods=["DELETE"])
@auth.api_for(MARKETER)
@blp.response(204)
@documented
@blp.alt_response(404, description="Unknown site or token.")
def revoke_collection_token(site_key: str, token_id: int):
    """Revoke a collection token at once."""
    tokens.revoke_collection_token(own_site(site_key), token_id, auth.current_user())


# --- the catalogue ------------------------------------------------------------------------------

@blp.route("/vendors")
@auth.api_for(MARKETER)
@blp.arguments(VendorQuery(), location="query")
@blp.response(200, VendorOut(many=True))
@documented
def list_vendors(query):
    """Search the catalogue, and your workspaces' custom vendors, by name (q) and purpose."""
    mine = workspaces.visible_ids(auth.current_user(), (MARKETER,))
    return [vendor_out(v) for v in vendors.search_vendors(query.get("q"), query.get("purpose"), mine)]


@blp.route("/vendors", methods=["POST"])
@auth.api_for(MARKETER)
@blp.arguments(WorkspaceQuery(), location="query")
@blp.arguments(VendorSchema())
@blp.response(201, VendorOut)
@documented
@blp.alt_response(404, description="Not one of your workspaces.")
def add_vendor(query, data):
    """Add a custom vendor to one of your workspaces, in the catalogue's format
    (vendors/README.md). Vendor ids are unique across the platform."""
    return vendor_out(vendors.save_custom_vendor(data, auth.current_user(),
                                                 workspace_id=query.get("workspace")))


@blp.route("/vendors/<vendor_id>", methods=["PUT"])
@auth.api_for(MARKETER)
@blp.arguments(VendorSchema())
@blp.response(200, VendorOut)
@documented
@blp.alt_response(404, description="Unknown vendor, or another workspace's.")
def edit_vendor(data, vendor_id: str):
    """Replace one of your workspaces' custom vendors (catalogue vendors change through
    their files). A change of its purposes or legal basis asks visitors again once a
    site publishes it."""
    return vendor_out(vendors.save_custom_vendor(data, auth.current_user(), vendor_id))


# --- workspaces and their members ---------------------------------------------------------------

@blp.route("/workspaces")
@auth.api_for(ADMIN, MARKETER, COMPLIANCE)
@blp.response(200, WorkspaceOut(many=True))
@documented
def list_workspaces():
    """The workspaces you are a member of (an operator: all of them)."""
    return workspaces.visible(auth.current_user(), (ADMIN, MARKETER, COMPLIANCE))


@blp.route("/workspaces", methods=["POST"])
@auth.api_for(OPERATOR)
@blp.arguments(workspaces.WorkspaceSchema())
@blp.response(201, WorkspaceOut)
@documented
def create_workspace(data):
    """Create a workspace (operator); add its first admin with POST .../members."""
    return workspaces.create_workspace(data, auth.current_user())


@blp.route("/workspaces/<int:workspace_id>", methods=["PATCH"])
@auth.api_for(OPERATOR)
@blp.arguments(workspaces.WorkspaceSchema())
@blp.response(200, WorkspaceOut)
@documented
@blp.alt_response(404, description="Unknown workspace.")
def rename_workspace(data, workspace_id: int):
    """Rename a workspace (operator)."""
    return workspaces.rename_workspace(workspaces.get_workspace(workspace_id), data,
                                       auth.current_user())


def administered(workspace_id: int):
    """A workspace the caller administers (its admin, or an operator); else 404."""
    return workspaces.get_workspace(workspace_id, auth.current_user(), (ADMIN,))


@blp.route("/workspaces/<int:workspace_id>/members")
@auth.api_for(ADMIN)
@blp.response(200, MemberOut(many=True))
@documented
@blp.alt_response(404, description="Not a workspace you administer.")
def list_members(workspace_id: int):
    """The workspace's members and their roles (its admins)."""
    return members.of_workspace(administered(workspace_id))


@blp.route("/workspaces/<int:workspace_id>/members", methods=["POST"])
@auth.api_for(ADMIN)
@blp.arguments(members.MemberSchema())
@blp.response(201, MemberOut)
@documented
@blp.alt_response(404, description="Not a workspace you administer.")
def add_member(data, workspace_id: int):
    """Give an account a role in the workspace, by its e-mail (the operator makes
    accounts: POST /users)."""
    return members.add_member(administered(workspace_id), data, auth.current_user())


@blp.route("/workspaces/<int:workspace_id>/members/<int:user_id>", methods=["PATCH"])
@auth.api_for(ADMIN)
@blp.arguments(members.MemberUpdate())
@blp.response(200, MemberOut)
@documented
@blp.alt_response(404, description="Not a workspace you administer, or not a member.")
def change_member(data, workspace_id: int, user_id: int):
    """Change a member's role (not your own: another admin must)."""
    member = members.membership(administered(workspace_id), user_id)
    return members.change_member(member, data, auth.current_user())


@blp.route("/workspaces/<int:workspace_id>/members/<int:user_id>", methods=["DELETE"])
@auth.api_for(ADMIN)
@blp.response(204)
@documented
@blp.alt_response(404, description="Not a workspace you administer, or not a member.")
def remove_member(workspace_id: int, user_id: int):
    """Take a member out of the workspace (their account stays)."""
    member = members.membership(administered(workspace_id), user_id)
    members.remove_member(member, auth.current_user())


# --- users (operator) -----------------------------------------------------------------------------

@blp.route("/users")
@auth.api_for(OPERATOR)
@blp.response(200, UserOut(many=True))
@documented
def list_users():
    """Every account, with its workspaces and roles."""
    return db.session.execute(db.select(User).order_by(User.email)).scalars().all()


@blp.route("/users", methods=["POST"])
@auth.api_for(OPERATOR)
@blp.arguments(users.UserSchema())
@blp.response(201, UserOut)
@documented
def create_user(data):
    """Create an account: an operator, or a member of a workspace with a role."""
    return users.create_user(data, auth.current_user())


@blp.route("/users/<int:user_id>", methods=["PATCH"])
@auth.api_for(OPERATOR)
@blp.arguments(users.UserUpdate())
@blp.response(200, UserOut)
@documented
@blp.alt_response(404, description="Unknown user.")
def update_user(data, user_id: int):
    """Make a user an operator or not, disable or enable them, or set a new password.
    Disabling ends their console sessions and revokes their API tokens at once; a new
    password ends their sessions."""
    return users.update_user(users.get_user(user_id), data, auth.current_user())


class SessionOut(StrictSchema):
    created_at = UTCDateTime()
    last_seen_at = UTCDateTime()
    user_agent = fields.String()


@blp.route("/users/<int:user_id>/sessions")
@auth.api_for(OPERATOR)
@blp.response(200, SessionOut(many=True))
@documented
@blp.alt_response(404, description="Unknown user.")
def list_sessions(user_id: int):
    """The user's open console sessions, newest first."""
    return sessions.open_sessions(users.get_user(user_id))


@blp.route("/users/<int:user_id>/sessions", methods=["DELETE"])
@auth.api_for(OPERATOR)
@blp.response(204)
@documented
@blp.alt_response(404, description="Unknown user.")
def end_sessions(user_id: int):
    """End every console session of the user now."""
    user = users.get_user(user_id)
    sessions.end_sessions(sessions.open_sessions(user), "ended by an operator")
