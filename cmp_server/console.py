"""The console: server-rendered pages that work without a front-end framework.

This part holds what every user needs (login, logout, API tokens) and the compliance
officer's pages (proof export, subject look-up); the marketer's pages come with the
console issue."""
from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from urllib.parse import urlsplit

from flask import Blueprint, Response, redirect, render_template, request, send_file, session, url_for

from werkzeug.exceptions import TooManyRequests

from cmp_server import auth, compliance, subjects
from cmp_server.errors import ServiceError
from cmp_server.extensions import db
from cmp_server.models import ApiToken, AuditEvent, Role, Site, SubjectRequest

bp = Blueprint("console", __name__, url_prefix="/console")
COMPLIANCE = Role.COMPLIANCE.value
FORM_LIMIT = 16 * 1024


@bp.before_request
def limit_form():
    request.max_content_length = FORM_LIMIT


@bp.context_processor
def inject():
    return {"user": auth.current_user(), "csrf_token": session.get("csrf", "")}


def safe_next(target: str | None) -> str:
    """Only redirect within this site after login."""
    parts = urlsplit(target or "")
    if target and not parts.scheme and not parts.netloc and target.startswith("/"):
        return target
    return url_for("console.home")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("console/login.html", next=request.args.get("next", ""))
    email = request.form.get("email", "")
    try:
        user = auth.authenticate(email, request.form.get("password", ""))
    except ServiceError as error:
        return render_template("console/login.html", error=error.message, email=email,
                               next=request.form.get("next", "")), 401
    except TooManyRequests as error:
        return render_template("console/login.html", error=error.description, email=email,
                               next=request.form.get("next", "")), 429, error.get_headers()[1:]
    auth.log_in(user)
    return redirect(safe_next(request.form.get("next")))


@bp.post("/logout")
@auth.page_for(Role.ADMIN.value, Role.MARKETER.value, COMPLIANCE)
def logout():
    auth.log_out()
    return redirect(url_for("console.login"))


@bp.get("/")
@auth.page_for(Role.ADMIN.value, Role.MARKETER.value, COMPLIANCE)
def home():
    sites = db.session.execute(db.select(Site).order_by(Site.name)).scalars().all()
    return render_template("console/home.html", sites=sites)


@bp.route("/tokens", methods=["GET", "POST"])
@auth.page_for(Role.ADMIN.value, Role.MARKETER.value, COMPLIANCE)
def tokens():
    user = auth.current_user()
    created, error = None, None
    if request.method == "POST":
        try:
            if "revoke" in request.form:
                auth.revoke_token(user, int(request.form["revoke"]))
            else:
                _, created = auth.create_token(user, request.form.get("name", ""))
        except (ServiceError, ValueError) as failure:
            error = str(failure)
    listed = db.session.execute(
        db.select(ApiToken).filter_by(user_id=user.id).order_by(ApiToken.created_at.desc())
    ).scalars().all()
    return render_template("console/tokens.html", tokens=listed, created=created, error=error)


# --- compliance -------------------------------------------------------------------------------

def parse_day(value: str, field: str) -> datetime:
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise ServiceError({field: ["must be a date such as 2026-01-31"]}) from None


def export_response(site_key: str, start: datetime, end: datetime) -> Response:
    """The bundle, written to a temporary file (memory stays flat) and streamed back."""
    spool = tempfile.TemporaryFile(prefix="cmp-export-")
    try:
        compliance.export(site_key, start, end, spool)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    name = f"consent-proof-{site_key}-{start:%Y%m%d}-{end:%Y%m%d}.zip"
    response = send_file(spool, mimetype="application/zip", as_attachment=True,
                         download_name=name, max_age=0)
    response.call_on_close(spool.close)
    return response


@bp.route("/compliance/export", methods=["GET", "POST"])
@auth.page_for(COMPLIANCE)
def compliance_export():
    sites = db.session.execute(db.select(Site).order_by(Site.name)).scalars().all()
    if request.method == "GET":
        return render_template("console/compliance_export.html", sites=sites)
    try:
        start = parse_day(request.form.get("from", ""), "from")
        end = parse_day(request.form.get("to", ""), "to")
        return export_response(request.form.get("site", ""), start, end)
    except ServiceError as error:
        return render_template("console/compliance_export.html", sites=sites,
                               error=str(error)), 422


@bp.get("/compliance/subjects")
@auth.page_for(COMPLIANCE)
def compliance_subjects():
    consent_id = request.args.get("consent_id", "").strip()
    found, error = None, None
    if consent_id:
        try:
            found = compliance.subject_history(consent_id, auth.current_user())
        except ServiceError as failure:
            error = str(failure)
    requests = db.session.execute(
        db.select(SubjectRequest).order_by(SubjectRequest.received_at.desc()).limit(50)
    ).scalars().all()
    return render_template("console/compliance_subjects.html", consent_id=consent_id,
                           found=found, error=error, requests=requests)


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


@bp.get("/audit")
@auth.page_for(Role.ADMIN.value, COMPLIANCE)
def audit_trail():
    """Every change, newest first, filtered by who, what and when. Read-only: the trail
    refuses UPDATE and DELETE in the database itself."""
    filters = {key: request.args.get(key, "").strip() for key in ("actor", "action", "entity", "since")}
    query = db.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(AUDIT_PAGE)
    if filters["actor"]:
        query = query.where(AuditEvent.actor.ilike(f"%{filters['actor']}%"))
    if filters["action"]:
        query = query.where(AuditEvent.action.startswith(filters["action"]))
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

@bp.get("/sites/<site_key>/analytics")
@auth.page_for(Role.MARKETER.value, COMPLIANCE)
def site_analytics(site_key: str):
    from datetime import timedelta

    from markupsafe import Markup

    from cmp_server import analytics, sites

    site = sites.get_site(site_key)
    today = datetime.now(timezone.utc).date()
    start_text = request.args.get("from") or (today - timedelta(days=30)).isoformat()
    end_text = request.args.get("to") or (today + timedelta(days=1)).isoformat()
    try:
        start, end = parse_day(start_text, "from"), parse_day(end_text, "to")
    except ServiceError as error:
        return render_template("console/analytics.html", site=site, error=str(error),
                               start=start_text, end=end_text), 422
    result = analytics.site_analytics(site.key, start, end)
    return render_template("console/analytics.html", site=site, result=result,
                           chart=Markup(analytics.bar_chart(result)), start=start_text,
                           end=end_text)
