"""The console: server-rendered pages that work without a front-end framework.

Every user: login, logout, API tokens. Marketers: sites, the catalogue, the draft with a
live preview, publishing, analytics. Compliance officers: proof export, data subjects,
the audit trail, analytics. Views stay thin: they call the same services as the APIs."""
from __future__ import annotations

import base64
import hashlib
import json
import tempfile
import tomllib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from sqlalchemy import or_
from flask import (
    Blueprint, Response, current_app, jsonify, make_response, redirect, render_template, request,
    send_file, session, url_for,
)
from markupsafe import Markup
from werkzeug.exceptions import Forbidden, TooManyRequests

from cmp_server.accounts import auth, members, sessions, tokens, users, workspaces
from cmp_server.consent import analytics, export_jobs, proof, subjects
from cmp_server.scanner import jobs
from cmp_server.console import changes, forms, labels, onboarding
from cmp_server.sites import gvl, google_consent_mode, registry, sightings, tcf, vendors, versions
from cmp_server.banner.assets import module_paths
from cmp_server.banner.document import banner_document
from cmp_server.banner.strings import BANNER_LANGUAGES, STRINGS, TEXT_KEYS
from cmp_server.sites.theme import DEFAULTS, LAYOUTS, SCHEMES, THEME
from cmp_server.platform.errors import NotFound, ServiceError
from cmp_server.platform.extensions import db
from cmp_server.platform.geo import OPT_IN
from cmp_server.platform.languages import negotiate
from cmp_server.scanner.report import AFTER_CHOICE, FINDING_LABELS, FINDING_PASSES, describe, seen_in
from cmp_server.platform.http import FORM_BODY_LIMIT
from cmp_server.platform.security_headers import PAGE_POLICY
from cmp_server.models import (
    OPERATOR, ApiToken, AuditEvent, CollectionToken, ProofExport, Purpose, Role, Site,
    SubjectRequest, User, Vendor,
)

bp = Blueprint("console", __name__, url_prefix="/console", static_folder="static")
bp.add_app_template_global(changes.months, "months")
# the console's stylesheet and script, named in their URLs by their content
ASSET_VERSION = hashlib.sha256(b"".join(
    path.read_bytes() for path in sorted((Path(__file__).parent / "static").iterdir()))).hexdigest()[:12]
ADMIN, MARKETER, COMPLIANCE = Role.ADMIN.value, Role.MARKETER.value, Role.COMPLIANCE.value
READERS = (MARKETER, COMPLIANCE)  # who may see a site


TCF_FORM_LIMIT = 512 * 1024  # up to 1000 ticked vendors and 500 Google ATP lines


@bp.before_request
def limit_form():
    request.max_content_length = (TCF_FORM_LIMIT if request.endpoint == "console.site_tcf"
                                  else FORM_BODY_LIMIT)


@bp.context_processor
def inject():
    user = auth.current_user()
    return {"user": user, "csrf_token": session.get("csrf", ""), "asset_version": ASSET_VERSION,
            "switcher_sites": registry.visible_sites(user, READERS) if user else [],
            "can": lambda *roles: user is not None and auth.allowed(user, roles),
            "can_in": lambda workspace_id, *roles: user is not None and workspaces.can(
                user, workspace_id, roles)}


def own_site(site_key: str, *roles: str) -> Site:
    """The caller's site: another workspace's is 404, as an unknown one."""
    return registry.get_site(site_key, auth.current_user(), roles or (MARKETER,))


def purpose_names() -> dict[str, str]:
    """Each purpose's English name, by id: how the console names purposes."""
    return {p.id: p.document["name"]["en"] for p in db.session.execute(db.select(Purpose)).scalars()}


def safe_next(target: str | None) -> str:
    """Only redirect within this site after login."""
    parts = urlsplit(target or "")
    if target and not parts.scheme and not parts.netloc and target.startswith("/"):
        return target
    return url_for("console.home")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        sessions.login_form_token()
        return render_template("console/login.html", next=request.args.get("next", ""))
    email = request.form.get("email", "")
    if not sessions.login_form_token_valid(request.form.get("csrf_token", "")):
        sessions.login_form_token()
        return render_template("console/login.html", email=email,
                               error="The login form expired: log in again.",
                               next=request.form.get("next", "")), 400
    try:
        user = auth.authenticate(email, request.form.get("password", ""))
    except ServiceError as error:
        return render_template("console/login.html", error=error.message, email=email,
                               next=request.form.get("next", "")), 401
    except TooManyRequests as error:
        return render_template("console/login.html", error=error.description, email=email,
                               next=request.form.get("next", "")), 429, error.get_headers()[1:]
    sessions.log_in(user)
    return redirect(safe_next(request.form.get("next")))


@bp.post("/logout")
@auth.page_for()
def logout():
    sessions.log_out()
    return redirect(url_for("console.login"))


@bp.get("/")
@auth.page_for()
def home():
    """The sites of the user's workspaces, by workspace."""
    user = auth.current_user()
    listed = registry.visible_sites(user, READERS)
    by_workspace = [(w, [s for s in listed if s.workspace_id == w.id])
                    for w in workspaces.visible(user, READERS)]
    return render_template("console/home.html", by_workspace=by_workspace)


def token_form(create: Callable[[str], tuple], revoke: Callable[[int], None]
               ) -> tuple[str | None, str | None]:
    """A token page's POST, if any: make one (its secret, shown once) or revoke one; and
    the error, if it failed."""
    if request.method != "POST":
        return None, None
    try:
        if "revoke" in request.form:
            revoke(int(request.form["revoke"]))
            return None, None
        return create(request.form.get("name", ""))[1], None
    except (ServiceError, ValueError) as failure:
        return None, str(failure)


@bp.get("/go")
@auth.page_for()
def go_to_site():
    """The site switcher: the chosen site's draft for its marketers, else its analytics."""
    site = own_site(request.args.get("site", ""), *READERS)
    if workspaces.can(auth.current_user(), site.workspace_id, (MARKETER,)):
        return redirect(url_for("console.edit_draft", site_key=site.key))
    return redirect(url_for("console.site_analytics", site_key=site.key))


@bp.route("/tokens", methods=["GET", "POST"], endpoint="tokens")
@auth.page_for()
def api_tokens():
    user = auth.current_user()
    created, error = token_form(lambda name: tokens.create_token(user, name),
                                lambda token_id: tokens.revoke_token(user, token_id))
    listed = db.session.execute(
        db.select(ApiToken).filter_by(user_id=user.id).order_by(ApiToken.created_at.desc())
    ).scalars().all()
    return render_template("console/tokens.html", tokens=listed, created=created, error=error)


@bp.route("/users", methods=["GET", "POST"])
@auth.page_for(OPERATOR)
def user_accounts():
    """Accounts (operator): create, disable or enable, make an operator, set a password,
    end sessions. Roles are given per workspace, on its page."""
    operator = auth.current_user()
    error, saved = None, None
    if request.method == "POST":
        try:
            saved = change_account(request.form, operator)
        except (ServiceError, ValueError) as failure:
            db.session.rollback()
            error = str(failure)
    people = db.session.execute(db.select(User).order_by(User.email)).scalars().all()
    open_by_user = {person.id: sessions.open_sessions(person) for person in people}
    return render_template("console/users.html", people=people, sessions=open_by_user,
                           roles=workspaces.ROLES, error=error, saved=saved,
                           workspaces=workspaces.visible(operator, (ADMIN,)))


def change_account(form, operator: User) -> str:
    """One form of the users page; what was done, in words."""
    if form.get("action") == "create":
        payload = {"email": form.get("email", ""), "password": form.get("password", ""),
                   "operator": form.get("operator") == "yes"}
        if form.get("workspace"):
            payload.update(workspace=int(form["workspace"]), role=form.get("role", ""))
        made = users.create_user(payload, operator)
        return f"Created {made.email}."
    person = users.get_user(int(form.get("user_id", "0")))
    action = form.get("action")
    if action == "end-sessions":
        sessions.end_sessions(sessions.open_sessions(person), "ended by an operator")
        return f"Ended every session of {person.email}."
    changes = {"disable": {"active": False}, "enable": {"active": True},
               "make-operator": {"operator": True}, "not-operator": {"operator": False},
               "password": {"password": form.get("password", "")},
               }.get(action)
    if changes is None:
        raise ServiceError({"action": [f"unknown action {action!r}"]})
    users.update_user(person, changes, operator)
    return f"Saved {person.email}."


@bp.route("/workspaces", methods=["GET", "POST"])
@auth.page_for()
def workspace_list():
    """The caller's workspaces and role in each; an operator creates workspaces here."""
    user = auth.current_user()
    error = None
    if request.method == "POST":
        if not user.operator:
            raise Forbidden("Only an operator creates workspaces.")
        try:
            made = workspaces.create_workspace({"name": request.form.get("name", "")}, user)
            return redirect(url_for("console.workspace_members", workspace_id=made.id))
        except ServiceError as failure:
            db.session.rollback()
            error = str(failure)
    listed = workspaces.visible(user, READERS)
    return render_template("console/workspaces.html", listed=listed, error=error), \
        422 if error else 200


@bp.route("/workspaces/<int:workspace_id>", methods=["GET", "POST"])
@auth.page_for(ADMIN)
def workspace_members(workspace_id: int):
    """A workspace's members (its admins and operators): add by e-mail, change a role,
    remove; an operator also renames it."""
    user = auth.current_user()
    workspace = workspaces.get_workspace(workspace_id, user, (ADMIN,))
    error, saved = None, None
    if request.method == "POST":
        try:
            saved = change_membership(workspace, request.form, user)
        except (ServiceError, ValueError) as failure:
            db.session.rollback()
            error = str(failure)
    return render_template("console/workspace.html", workspace=workspace,
                           members=members.of_workspace(workspace), roles=workspaces.ROLES,
                           error=error, saved=saved), 422 if error else 200


def change_membership(workspace, form, user: User) -> str:
    """One form of a workspace's page; what was done, in words."""
    action = form.get("action")
    if action == "add":
        member = members.add_member(workspace, {
            "email": form.get("email", ""), "role": form.get("role", "")}, user)
        return f"Added {member.user.email} as {member.role}."
    if action == "rename":
        if not user.operator:
            raise ServiceError({"name": ["only an operator renames a workspace"]})
        workspaces.rename_workspace(workspace, {"name": form.get("name", "")}, user)
        return "Renamed."
    member = members.membership(workspace, int(form.get("user_id", "0")))
    email = member.user.email
    if action == "role":
        members.change_member(member, {"role": form.get("role", "")}, user)
        return f"{email} is now {member.role}."
    if action == "remove":
        members.remove_member(member, user)
        return f"Removed {email} from {workspace.name}."
    raise ServiceError({"action": [f"unknown action {action!r}"]})


@bp.route("/sites/<site_key>/collection-tokens", methods=["GET", "POST"])
@auth.page_for(MARKETER)
def collection_tokens(site_key: str):
    """Tokens with which the site's own servers record consents (no browser Origin)."""
    site = own_site(site_key)
    user = auth.current_user()
    created, error = token_form(
        lambda name: tokens.create_collection_token(site, name, user),
        lambda token_id: tokens.revoke_collection_token(site, token_id, user))
    listed = db.session.execute(
        db.select(CollectionToken).filter_by(site_id=site.id)
        .order_by(CollectionToken.created_at.desc())
    ).scalars().all()
    return render_template(
        "console/tokens.html", tokens=listed, created=created, error=error, site=site,
        heading=f"Collection tokens of {site.name}",
        intro="Your site's own servers record consents with one of these (POST "
              "/api/v1/consents with Authorization: Bearer <token>, no Origin), for example "
              "a choice a visitor makes in their account settings. Browsers never need one.")


# --- compliance -------------------------------------------------------------------------------

def parse_day(value: str, field: str) -> datetime:
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise ServiceError({field: ["must be a date such as 2026-01-31"]}) from None


def export_response(site_key: str, start: datetime, end: datetime) -> Response:
    """The bundle of records issued in [start, end), written to a temporary file (memory
    stays flat) and streamed back; named by the days it covers, both included."""
    spool = tempfile.TemporaryFile(prefix="cmp-export-")
    try:
        proof.export(site_key, start, end, spool, actor=auth.current_user())
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    response = send_file(spool, mimetype="application/zip", as_attachment=True,
                         download_name=proof.bundle_name(site_key, start, end), max_age=0)
    response.call_on_close(spool.close)
    return response


@bp.route("/compliance/export", methods=["GET", "POST"])
@auth.page_for(COMPLIANCE)
def compliance_export():
    """Ask for a site's proof bundle: it is written in the background (export_jobs), and
    this page lists the exports of the user's sites still kept."""
    listed = registry.visible_sites(auth.current_user(), (COMPLIANCE,))
    if request.method == "GET":
        export_jobs.sweep()
        return render_template("console/compliance_export.html", sites=listed,
                               exports=export_jobs.recent(listed))
    site = own_site(request.form.get("site", ""), COMPLIANCE)
    try:
        start = parse_day(request.form.get("from", ""), "from")
        through = parse_day(request.form.get("to", ""), "to")  # the last day, included
        if through < start:
            raise ServiceError({"to": ["must be the same day as from, or later"]})
        job, _ = export_jobs.start(current_app._get_current_object(), site, start,
                                   through + timedelta(days=1), auth.current_user())
    except ServiceError as error:
        return render_template("console/compliance_export.html", sites=listed,
                               exports=export_jobs.recent(listed), error=str(error)), 422
    return redirect(url_for("console.compliance_export_job", job_id=job.id), 303)


def own_export(job_id: str) -> ProofExport:
    """An export of one of the caller's sites, with the compliance role (as for starting
    one); anyone else's is 404, as an unknown one."""
    job = db.session.get(ProofExport, job_id)
    if job is None:
        raise NotFound("export", job_id)
    own_site(job.site.key, COMPLIANCE)
    return job


@bp.get("/compliance/exports/<job_id>")
@auth.page_for(COMPLIANCE)
def compliance_export_job(job_id: str):
    """The export's progress (the page reloads itself while it runs), then its download."""
    job = own_export(job_id)
    return render_template(
        "console/compliance_export_job.html", job=job, stale=export_jobs.is_stale(job),
        stages=export_jobs.STAGES, through=job.period_until - timedelta(days=1), keep_hours=int(export_jobs.KEEP_FOR.total_seconds() // 3600),
        name=proof.bundle_name(job.site.key, job.period_from, job.period_until))


@bp.get("/compliance/exports/<job_id>/download")
@auth.page_for(COMPLIANCE)
def compliance_export_download(job_id: str):
    job = own_export(job_id)
    path = export_jobs.bundle_path(job)
    if job.status != "done" or not path.is_file():
        raise NotFound("export", job_id)
    return send_file(path, mimetype="application/zip", as_attachment=True, max_age=0,
                     download_name=proof.bundle_name(job.site.key, job.period_from,
                                                     job.period_until))


@bp.get("/compliance/subjects")
@auth.page_for(COMPLIANCE)
def compliance_subjects():
    consent_id = request.args.get("consent_id", "").strip()
    found, error = None, None
    if consent_id:
        try:
            found = proof.subject_history(consent_id, auth.current_user())
        except ServiceError as failure:
            error = str(failure)
    site_names = {site.key: site.name
                  for site in registry.visible_sites(auth.current_user(), (COMPLIANCE,))}
    requests = db.session.execute(
        db.select(SubjectRequest).where(SubjectRequest.site_key.in_(site_names))
        .order_by(SubjectRequest.received_at.desc()).limit(50)
    ).scalars().all()
    return render_template("console/compliance_subjects.html", consent_id=consent_id,
                           found=found, error=error, requests=requests, site_names=site_names,
                           purpose_names=purpose_names())


@bp.post("/compliance/subjects/erase")
@auth.page_for(COMPLIANCE)
def compliance_erase():
    consent_id = request.form.get("consent_id", "").strip()
    if request.form.get("confirm") != "yes":
        return redirect(url_for("console.compliance_subjects", consent_id=consent_id))
    try:
        erased = subjects.erase_for_officer(consent_id, auth.current_user())
    except ServiceError as error:
        return render_template("console/compliance_subjects.html", consent_id=consent_id,
                               error=str(error), requests=[]), 422
    return render_template("console/compliance_subjects.html", consent_id="", requests=[],
                           message=f"{len(erased)} records erased; the request is logged.")


# --- audit trail ----------------------------------------------------------------------------

AUDIT_PAGE = 100


def audit_scope(user: User):
    """The events a workspace's admin or compliance officer sees: those about its sites,
    its custom vendors and itself (an operator sees every event, logins and accounts
    included)."""
    ids = workspaces.visible_ids(user, (COMPLIANCE,))
    site_keys = db.select(Site.key).where(Site.workspace_id.in_(ids))
    vendor_ids = db.select(Vendor.id).where(Vendor.workspace_id.in_(ids))
    return or_(
        (AuditEvent.entity_type == "site") & AuditEvent.entity_id.in_(site_keys),
        (AuditEvent.entity_type == "vendor") & AuditEvent.entity_id.in_(vendor_ids),
        (AuditEvent.entity_type == "workspace") & AuditEvent.entity_id.in_([str(i) for i in ids]),
    )


@bp.get("/audit")
@auth.page_for(ADMIN, COMPLIANCE)
def audit_trail():
    """Every change, newest first, filtered by who, what and when. Read-only: the trail
    refuses UPDATE and DELETE in the database itself."""
    user = auth.current_user()
    filters = {key: request.args.get(key, "").strip() for key in ("actor", "action", "entity", "since")}
    query = db.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(AUDIT_PAGE)
    if not user.operator:
        query = query.where(audit_scope(user))
    if filters["actor"]:
        query = query.where(AuditEvent.actor.icontains(filters["actor"], autoescape=True))
    if filters["action"]:
        query = query.where(AuditEvent.action.startswith(filters["action"], autoescape=True))
    if filters["entity"]:
        query = query.where(AuditEvent.entity_id == filters["entity"])
    error = None
    if filters["since"]:
        try:
            query = query.where(AuditEvent.at >= parse_day(filters["since"], "since"))
        except ServiceError as failure:
            error = str(failure)
    events = db.session.execute(query).scalars().all()
    return render_template("console/audit.html", events=events, filters=filters, error=error)


# --- consent analytics ------------------------------------------------------------------------

MAX_ANALYTICS_DAYS = 366  # a year's days, each drawn


def analytics_period() -> tuple[datetime, datetime, str, str]:
    """The analytics' period from ?from= and ?to= (both days included; the last 30 days
    by default): (start, end exclusive, from, through)."""
    today = datetime.now(timezone.utc).date()
    start_text = request.args.get("from") or (today - timedelta(days=29)).isoformat()
    through_text = request.args.get("to") or today.isoformat()
    start, through = parse_day(start_text, "from"), parse_day(through_text, "to")
    if through < start:
        raise ServiceError({"to": ["must be the same day as from, or later"]})
    if (through - start).days >= MAX_ANALYTICS_DAYS:
        raise ServiceError({"to": [f"at most {MAX_ANALYTICS_DAYS} days after from"]})
    return start, through + timedelta(days=1), start_text, through_text


@bp.get("/sites/<site_key>/analytics")
@auth.page_for(*READERS)
def site_analytics(site_key: str):
    """How visitors answer: the choice mix, the banner's reach, grant rates per purpose
    and vendor by their names, and each day's figures."""
    site = own_site(site_key, *READERS)
    try:
        start, end, start_text, through_text = analytics_period()
    except ServiceError as error:
        return render_template("console/analytics.html", site=site, error=str(error),
                               start=request.args.get("from", ""),
                               through=request.args.get("to", "")), 422
    result = analytics.site_analytics(site.key, start, end)
    required = {p.id for p in db.session.execute(db.select(Purpose).where(Purpose.required)).scalars()}
    purposes = {pid: rate for pid, rate in result["purposes"].items() if pid not in required}
    consent_vendors = dict(db.session.execute(db.select(Vendor.id, Vendor.name).where(
        Vendor.id.in_(result["vendors"]), Vendor.legal_basis == "consent")).all())
    vendor_rates = {vid: rate for vid, rate in result["vendors"].items() if vid in consent_vendors}
    charts = {
        "choice-mix": ("How visitors chose", analytics.choice_mix(result)),
        "reach": ("How far the banner got", analytics.reach(result)),
        "purposes": ("Grant rate per purpose", analytics.grant_rates(purposes, purpose_names(),
                                                                     "Grant rate per purpose")),
        "vendors": ("Grant rate per vendor", analytics.grant_rates(
            vendor_rates, consent_vendors, "Grant rate per vendor")),
        "trend": ("Each day", analytics.trend(analytics.every_day(result, start.date(), end.date()))),
    }
    return render_template("console/analytics.html", site=site, result=result,
                           charts={k: (title, Markup(chart)) for k, (title, chart) in charts.items()},
                           start=start_text, through=through_text, percent=analytics.percent)


@bp.get("/sites/<site_key>/analytics.csv")
@auth.page_for(*READERS)
def analytics_csv(site_key: str):
    """The period's figures per day, for a spreadsheet."""
    site = own_site(site_key, *READERS)
    start, end, start_text, through_text = analytics_period()
    result = analytics.site_analytics(site.key, start, end)
    days = analytics.every_day(result, start.date(), end.date())
    return Response(analytics.daily_csv(days), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="consent-analytics-{site.key}-'
                               f'{start_text}-{through_text}.csv"'})


# --- the marketer's pages -----------------------------------------------------------------------


@bp.get("/catalogue")
@auth.page_for(MARKETER)
def catalogue():
    """Find vendors by name or purpose."""
    q, purpose = request.args.get("q", "").strip(), request.args.get("purpose", "").strip()
    purposes = db.session.execute(db.select(Purpose).order_by(Purpose.position)).scalars().all()
    found = vendors.search_vendors(q or None, purpose or None,
                                   workspaces.visible_ids(auth.current_user(), (MARKETER,)))
    return render_template("console/catalogue.html", vendors=found, purposes=purposes,
                           q=q, purpose=purpose)


def missing_translations(texts: dict[str, dict[str, str]]) -> dict[str, list[str]]:
    """For each language with its own texts, the texts another language rewrote but it
    did not: what a marketer still has to translate."""
    rewritten = {key for strings in texts.values() for key in strings}
    return {language: sorted(rewritten - set(strings)) for language, strings in texts.items()
            if rewritten - set(strings)}


def banner_language(value: str | None) -> str:
    """A language the banner speaks, English when the value is none of them."""
    return value if value in BANNER_LANGUAGES else "en"


def draft_form_changes(form, current_texts: dict[str, dict[str, str]]) -> dict:
    """The draft page's form as the changes versions.update_draft takes. The form edits one
    language's texts at a time; the others are kept."""
    vendors = [{"id": vid, "retention_tier": form.get(f"tier-{vid}") or None}
               for vid in form.getlist("vendor")]
    language = form.get("language", "en")
    texts = dict(current_texts)
    own = {key: form[f"text-{key}"].strip() for key in TEXT_KEYS if form.get(f"text-{key}", "").strip()}
    if own:
        texts[language] = own
    else:
        texts.pop(language, None)
    theme = {key: form[f"theme-{key}"].strip() for key in THEME
             if form.get(f"theme-{key}", "").strip()}
    rules = {}
    for line in form.get("region_rules", "").splitlines():
        if "=" in line:
            region, mode = (part.strip() for part in line.split("=", 1))
            rules[region] = mode
    return {"vendors": vendors, "texts": texts, "theme": theme, "region_rules": rules,
            "google_consent_mode": {key: value for key, value in consent_mode_typed(form).items()
                                    if value != google_consent_mode.DEFAULTS[key]}}


def consent_mode_typed(form) -> dict:
    """The draft form's Google Consent Mode fields, every setting named."""
    return {"mode": form.get("gcm-mode", "basic"),
            "ads_data_redaction": form.get("gcm-ads_data_redaction") == "on",
            "url_passthrough": form.get("gcm-url_passthrough") == "on"}


TEXT_GROUPS = [  # the draft's text fields, grouped as the banner shows them
    ("First layer", ("title", "intro", "reject", "accept", "customize", "policy")),
    ("Settings layer", ("settings", "back", "close", "always", "save", "needs", "cookies",
                        "retention", "hosting", "months", "days", "session", "persistent",
                        "cid", "mine")),
    ("Global Privacy Control notice", ("gpc", "ok")),
    ("Held-back embeds (videos, maps)", ("embed", "once", "allow")),
    ("US visitors (sites with US region rules)", ("dns", "dns_notice")),
]
LONG_TEXTS = {"intro", "gpc", "embed", "dns_notice"}
DRAFT_LABELS = {
    **{f"text-{key}": label for key, label in labels.TEXTS.items()},
    **{f"theme-{key}": label for key, label in labels.THEME.items()},
    "region_rules": "Rules by region", "vendors": "Vendors",
    "gcm-mode": "Google Consent Mode", "gcm-ads_data_redaction": "Redact ads data",
    "gcm-url_passthrough": "Pass ad click information through URLs",
}
assert set(TEXT_KEYS) == {key for _, keys in TEXT_GROUPS for key in keys}


def draft_values(draft, language: str, form=None) -> dict:
    """What the draft form shows: the saved draft, or what was typed when it came back."""
    if form is None:
        rules = "".join(f"{region}={mode}\n" for region, mode in draft.region_rules.items())
        return {"chosen": {v.vendor_id: v.retention_tier for v in draft.vendors},
                "texts": draft.texts.get(language, {}), "theme": draft.theme,
                "region_rules": rules,
                "gcm": {**google_consent_mode.DEFAULTS, **draft.google_consent_mode}}
    return {"chosen": {vid: form.get(f"tier-{vid}") for vid in form.getlist("vendor")},
            "texts": {key: form.get(f"text-{key}", "") for key in TEXT_KEYS},
            "theme": {key: form.get(f"theme-{key}", "") for key in THEME},
            "region_rules": form.get("region_rules", ""),
            "gcm": consent_mode_typed(form)}


@bp.route("/sites/<site_key>/draft", methods=["GET", "POST"])
@auth.page_for(MARKETER)
def edit_draft(site_key: str):
    """Vendors (with retention tiers), texts per language, theme and region rules."""
    site = own_site(site_key)
    language = banner_language(request.values.get("language"))
    errors, status, typed = {}, 200, None
    if request.method == "POST":
        try:
            edits = draft_form_changes(request.form, site.draft.texts)
            versions.update_draft(site, edits, auth.current_user())
            return redirect(url_for("console.edit_draft", site_key=site_key, language=language,
                                    saved=1))
        except ServiceError as failure:
            db.session.rollback()
            errors, status, typed = forms.field_errors(failure, forms.draft_field), 422, request.form
    catalogue = db.session.execute(db.select(Vendor).where(vendors.usable_in([site.workspace_id]))
                                   .order_by(Vendor.name)).scalars().all()
    return render_template(
        "console/draft.html", site=site, values=draft_values(site.draft, language, typed),
        catalogue=catalogue, purpose_names=purpose_names(),
        language=language, languages=BANNER_LANGUAGES, own_texts=site.draft.texts,
        text_groups=TEXT_GROUPS, long_texts=LONG_TEXTS, builtin=STRINGS[language],
        labels=DRAFT_LABELS, theme_defaults=DEFAULTS, errors=errors,
        gcm_modes=google_consent_mode.MODES, gcm_signals=google_consent_mode.SIGNAL_PURPOSES,
        layouts={"": f"{LAYOUTS['box'].capitalize()} (the default)",
                 **{k: v.capitalize() for k, v in LAYOUTS.items() if k != "box"}},
        schemes={"": "Always light (the default)",
                 **{k: v.capitalize() for k, v in SCHEMES.items() if k != "light"}},
        missing=missing_translations(site.draft.texts),
        saved=request.args.get("saved"), pending=versions.draft_document(site)["pending"],
        snippet=embed_snippet(site.key)), status


@bp.route("/sites/<site_key>/tcf", methods=["GET", "POST"])
@auth.page_for(MARKETER)
def site_tcf(site_key: str):
    """IAB TCF for the site: on or off, its vendors from the newest stored Global Vendor
    List, its Google ATPs. Saved into the draft; publishing makes it live."""
    site = own_site(site_key)
    errors, status, typed = {}, 200, None
    if request.method == "POST":
        setting, lines, errors = forms.tcf_setting(request.form)
        try:
            if errors:  # lines that are not an ATP at all: said as they are
                raise ServiceError(errors)
            versions.update_draft(site, {"tcf": setting}, auth.current_user())
            return redirect(url_for("console.site_tcf", site_key=site_key, saved=1))
        except ServiceError as failure:
            db.session.rollback()
            errors, status, typed = forms.tcf_errors(failure, lines), 422, request.form
    latest = gvl.latest_summary()
    values = forms.tcf_values(site.draft.tcf, typed)
    listed = [v for v in (latest or {"vendors": {}})["vendors"].values()
              if "deletedDate" not in v or v["id"] in values["vendors"]]
    listed.sort(key=lambda v: (v["id"] not in values["vendors"], v["name"].lower(), v["id"]))
    purposes = latest["document"]["purposes"] if latest else {}
    return render_template(
        "console/tcf.html", site=site, latest=latest, vendors=listed, purposes=purposes,
        values=values, errors=errors, labels=forms.TCF_LABELS, saved=request.args.get("saved"),
        cmp_id=current_app.config.get("CMP_TCF_CMP_ID"), max_vendors=tcf.MAX_VENDORS,
        max_atps=tcf.MAX_ATPS, pending=versions.draft_document(site)["pending"]), status


def embed_snippet(site_key: str) -> str:
    return (f'<script src="{request.host_url}banner/cmp.js" data-site="{site_key}" '
            'async></script>')


def published_content(site: Site) -> dict | None:
    latest = versions.latest_version(site)
    return latest.content if latest else None


@bp.route("/sites/<site_key>/publish", methods=["GET", "POST"])
@auth.page_for(MARKETER)
def publish_site(site_key: str):
    """Each change the draft makes, before and after, and whether visitors are asked
    again; then publish."""
    site = own_site(site_key)
    before = published_content(site)
    if request.method == "POST":
        try:
            version, summary = versions.publish(site, auth.current_user())
        except ServiceError as failure:
            db.session.rollback()
            return render_template("console/publish.html", site=site, error=str(failure),
                                   summary=versions.draft_document(site)["pending"],
                                   changes=changes.described(before, versions.snapshot(site))), 422
        return render_template("console/publish.html", site=site, published=version,
                               summary=summary, changes=changes.described(before, version.content))
    return render_template("console/publish.html", site=site,
                           summary=versions.draft_document(site)["pending"],
                           changes=changes.described(before, versions.snapshot(site)))


@bp.get("/sites/<site_key>/versions")
@auth.page_for(MARKETER)
def version_history(site_key: str):
    """Every published version, newest first, with what it changed."""
    site = own_site(site_key)
    published = list(site.versions)
    history = [(version, changes.described(published[i - 1].content if i else None,
                                           version.content))
               for i, version in enumerate(published)]
    publishers = {u.id: u.email for u in db.session.execute(db.select(User).where(
        User.id.in_({v.published_by_id for v in published if v.published_by_id}))).scalars()}
    return render_template("console/versions.html", site=site, history=history[::-1],
                           publishers=publishers, rolled=request.args.get("rolled"))


@bp.route("/sites/<site_key>/versions/<int:number>/rollback", methods=["GET", "POST"])
@auth.page_for(MARKETER)
def roll_back(site_key: str, number: int):
    """What publishing version NUMBER's content again would change; then do it."""
    site = own_site(site_key)
    try:
        target = versions.version_content(site, number)
        if request.method == "POST":
            version, _ = versions.roll_back(site, number, auth.current_user())
            return redirect(url_for("console.version_history", site_key=site.key,
                                    rolled=version.number))
    except ServiceError as failure:
        db.session.rollback()
        return render_template("console/rollback.html", site=site, number=number,
                               error=str(failure), changes=[], asks_again=False), 422
    current = published_content(site)
    return render_template("console/rollback.html", site=site, number=number,
                           changes=changes.described(current, target),
                           asks_again=versions.diff(current, target)["asks_again"])


@bp.get("/sites/<site_key>/preview.json")
@auth.page_for(MARKETER)
def preview_config(site_key: str):
    """The draft as the banner would receive it once published (an opt-in visitor)."""
    site = own_site(site_key)
    return jsonify(preview_document(site, versions.snapshot(site), request.args.get("lang"),
                                    request.args.get("scheme")))


def preview_document(site: Site, content: dict, language: str | None,
                     scheme: str | None = None) -> dict:
    """The banner's configuration for the preview. A banner that follows the visitor's
    system (scheme auto) follows the preview's page instead, light or dark."""
    language = negotiate(language, None, site.default_language, BANNER_LANGUAGES)
    document = banner_document(content, 0, "draft", language, None, OPT_IN, module_paths())
    if scheme in PREVIEW_SCHEMES and document["theme"].get("scheme") == "auto":
        document["theme"] = {**document["theme"], "scheme": scheme}
    return document


PREVIEW_LAYERS = ("first", "settings")
PREVIEW_SCHEMES = ("light", "dark")


@bp.route("/sites/<site_key>/preview", methods=["GET", "POST"])
@auth.page_for(MARKETER)
def preview(site_key: str):
    """A stand-in host page showing the draft's banner; the draft page frames it. Posted
    the draft form, it shows what the form would give, nothing saved: the live preview
    (the banner reads that configuration from a data: URL, so nothing is kept anywhere)."""
    site = own_site(site_key)
    values = request.values
    language = banner_language(values.get("preview_language") or values.get("lang"))
    layer = values.get("preview_layer") if values.get("preview_layer") in PREVIEW_LAYERS else "first"
    scheme = values.get("preview_scheme") if values.get("preview_scheme") in PREVIEW_SCHEMES else "light"
    config_url = url_for("console.preview_config", site_key=site.key, lang=language, scheme=scheme)
    not_shown = []
    if request.method == "POST":
        content, errors = versions.what_if(site, draft_form_changes(request.form, site.draft.texts))
        document = json.dumps(preview_document(site, content, language, scheme),
                              separators=(",", ":"))
        config_url = "data:application/json;base64," + base64.b64encode(document.encode()).decode()
        not_shown = sorted({DRAFT_LABELS.get(forms.draft_field(field) or "", field)
                            for field in errors})
    response = make_response(render_template(
        "console/preview.html", site=site, language=language, layer=layer, scheme=scheme,
        config_url=config_url, not_shown=not_shown))
    # the posted preview's banner fetches its configuration from a data: URL
    response.headers["Content-Security-Policy"] = PAGE_POLICY.replace(
        "connect-src 'self'", "connect-src 'self' data:")
    return response


SITE_FIELDS = ("name", "default_language", "consent_lifetime_months", "refusal_lifetime_months",
               "privacy_policy_url")
CONTROLLER_FIELDS = ("name", "address", "country", "email", "phone")


def site_form_payload(form) -> dict:
    """The site form as the payload registry.create_site / update_site take: numbers as
    numbers, origins one per line, the controller's fields together."""
    payload: dict = {}
    for field in SITE_FIELDS:
        value = form.get(field, "").strip()
        if value:
            payload[field] = int(value) if field.endswith("_months") and value.isdigit() else value
    payload["origins"] = [line.strip() for line in form.get("origins", "").splitlines() if line.strip()]
    controller = {field: form.get(f"controller_{field}", "").strip() for field in CONTROLLER_FIELDS}
    if any(controller.values()):
        payload["controller"] = {k: v for k, v in controller.items() if v or k != "phone"}
    return payload


SITE_LABELS = {
    "workspace": "Workspace", "name": "Name", "origins": "Origins that embed the banner",
    "default_language": "Default language", "consent_lifetime_months": "Consent lasts (months)",
    "refusal_lifetime_months": "A refusal is remembered (months)",
    "controller_name": "Name", "controller_address": "Postal address",
    "controller_country": "Country", "controller_email": "E-mail for privacy requests",
    "controller_phone": "Phone", "privacy_policy_url": "Privacy policy address",
}


@bp.route("/sites/new", methods=["GET", "POST"], endpoint="new_site")
@bp.route("/sites/<site_key>/settings", methods=["GET", "POST"])
@auth.page_for(MARKETER)
def site_settings(site_key: str | None = None):
    """Create a site, or change one: name, origins, language, lifetimes, controller, policy."""
    site = own_site(site_key) if site_key else None
    user = auth.current_user()
    page = {"site": site, "labels": SITE_LABELS, "workspaces": own_workspaces()}
    if request.method == "POST":
        payload = site_form_payload(request.form)
        try:
            if site is None:
                site = registry.create_site(payload, user, chosen_workspace(request.form))
                return redirect(url_for("console.site_embed", site_key=site.key, created=1))
            registry.update_site(site, payload, auth.current_user())
            return redirect(url_for("console.site_settings", site_key=site.key, saved=1))
        except ServiceError as failure:
            db.session.rollback()
            return render_template("console/site.html", form=request.form, **page,
                                   errors=forms.field_errors(failure, forms.site_field)), 422
    return render_template("console/site.html", form=None, errors={}, **page,
                           saved=request.args.get("saved"))


@bp.get("/sites/<site_key>/embed")
@auth.page_for(MARKETER)
def site_embed(site_key: str):
    """Getting the banner onto the site: what is done and what is next, the snippet, the
    origins with when the banner was last seen on each, and the markup that holds each
    vendor's tags back."""
    site = own_site(site_key)
    return render_template("console/embed.html", site=site, steps=onboarding.steps(site),
                           snippet=embed_snippet(site.key), tagging=onboarding.tagging(site),
                           seen=sightings.seen_on(site), created=request.args.get("created"))


def own_workspaces():
    """The workspaces where the caller may add sites and vendors."""
    return workspaces.visible(auth.current_user(), (MARKETER,))


def chosen_workspace(form) -> int | None:
    """The workspace picked in a form (none when the caller has only one)."""
    value = form.get("workspace", "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise ServiceError({"workspace": ["pick one of your workspaces"]})
    return int(value)


VENDOR_TEMPLATE = (Path(__file__).parent / "vendor_template.toml").read_text(encoding="utf-8")


@bp.route("/vendors/new", methods=["GET", "POST"])
@auth.page_for(MARKETER)
def new_vendor():
    """Add a custom vendor, written in the catalogue's own TOML format (vendors/README.md)."""
    source = request.form.get("toml") or VENDOR_TEMPLATE
    if request.method == "POST":
        try:
            document = tomllib.loads(source)
            vendor = vendors.save_custom_vendor(document, auth.current_user(),
                                                workspace_id=chosen_workspace(request.form))
            return redirect(url_for("console.catalogue", q=vendor.name))
        except tomllib.TOMLDecodeError as failure:
            error = f"Not valid TOML: {failure}"
        except ServiceError as failure:
            db.session.rollback()
            error = str(failure)
        return render_template("console/vendor_new.html", source=source, error=error,
                               workspaces=own_workspaces()), 422
    return render_template("console/vendor_new.html", source=source, workspaces=own_workspaces())


# --- the site scanner ----------------------------------------------------------------------------

def scan_page(site, status: int = 200, error: str | None = None, form=None):
    scan = jobs.latest_scan(site)
    return render_template(
        "console/scan.html", site=site, scan=scan, running=jobs.is_running(scan), error=error,
        form=form or {}, limits=jobs.CONSOLE_LIMITS, labels=FINDING_LABELS,
        finding_passes=FINDING_PASSES, after_choice=AFTER_CHOICE, describe=describe,
        seen_in=seen_in), status


@bp.route("/sites/<site_key>/scan", methods=["GET", "POST"])
@auth.page_for(MARKETER)
def site_scan(site_key: str):
    """Start a scan of the site's origins (in the background) and read its latest report."""
    site = own_site(site_key)
    if request.method == "GET":
        return scan_page(site)
    try:
        urls = jobs.site_start_pages(site, request.form.get("urls", "").splitlines())
        options = jobs.console_options(request.form.get("depth", "1"),
                                        request.form.get("max_pages", "10"))
        jobs.start_in_background(current_app._get_current_object(), site, urls, options,
                                  auth.current_user())
    except ServiceError as failure:
        db.session.rollback()
        return scan_page(site, 422, str(failure), request.form)
    return redirect(url_for("console.site_scan", site_key=site.key))


@bp.get("/sites/<site_key>/scan.json")
@auth.page_for(MARKETER)
def site_scan_json(site_key: str):
    """The latest report as the CLI's --json writes it."""
    scan = jobs.latest_scan(own_site(site_key))
    if scan is None or scan.report is None:
        return jsonify({"code": 404, "status": "Not Found", "message": "No report yet.",
                        "errors": {}}), 404
    return jsonify(scan.report)
