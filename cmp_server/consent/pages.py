"""The visitor's own page: their consent history in plain language, a JSON download, a
new choice, and erasure, all authorised by the receipt token from their cookie."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, render_template, request

from cmp_server.consent import subjects
from cmp_server.api.public import over_rate_limit
from cmp_server.sites.catalogue import CATALOGUE_LANGUAGES
from cmp_server.consent.receipts import notice
from cmp_server.platform.errors import ServiceError
from cmp_server.platform.extensions import db
from cmp_server.models import Site
from cmp_server.platform.languages import localise, negotiate, primary
from cmp_server.platform.http import FORM_BODY_LIMIT

bp = Blueprint("my_consent", __name__, url_prefix="/my-consent")


@bp.before_request
def limit_form():
    """Forms are small; and each POST counts against the client's budget of the public
    API (a change marks receipts stale, which every banner of the site then lists)."""
    request.max_content_length = FORM_BODY_LIMIT
    if request.method == "POST":
        wait = over_rate_limit(request)
        if wait is not None:
            return page(error=f"Too many requests from this address: try again in {wait} s.",
                        status=429)


def purpose_names(content: dict[str, Any], language: str) -> dict[str, str]:
    default = content["default_language"]
    names = {p["id"]: localise(p["name"], language, default) for p in content["purposes"]}
    names.update({v["id"]: v["name"] for v in content["vendors"]})
    return names


def describe(record: dict[str, Any], language: str) -> dict[str, Any]:
    """One receipt in plain words: what it allowed and refused (strictly necessary
    services need no consent, so they are neither)."""
    content = notice(record["site"], record["config_version"])
    names = purpose_names(content, language)
    needs_consent = {v["id"] for v in content["vendors"] if v["legal_basis"] == "consent"}
    allowed = [names.get(p, p) for p, on in record["purposes"].items() if on and p != "necessary"]
    refused = [names.get(p, p) for p, on in record["purposes"].items() if not on]
    summary = {
        "accept_all": "You accepted all purposes.",
        "reject_all": "You refused every optional purpose.",
        "withdraw": "You withdrew your consent.",
        "gpc": "Your browser's Global Privacy Control signal was applied: optional purposes refused.",
    }.get(record["action"], "You chose purpose by purpose.")
    return {
        **record,
        "summary": summary,
        "allowed": allowed,
        "refused": refused,
        "vendors_allowed": [names.get(v, v) for v, on in record["vendors"].items()
                            if on and v in needs_consent],
        "vendors_refused": [names.get(v, v) for v, on in record["vendors"].items()
                            if not on and v in needs_consent],
    }


def page(template: str = "my_consent.html", status: int = 200, **context) -> tuple[str, int]:
    return render_template(template, **context), status


@bp.get("/")
def ask_for_token():
    return page(token="")


@bp.post("/")
def show_history():
    token = request.form.get("token", "").strip()
    try:
        return history_page(token)
    except ServiceError as error:
        return page(token=token, error=str(error), status=400)


def history_page(token: str, message: str | None = None, error: str | None = None,
                 status: int = 200) -> tuple[str, int]:
    """The visitor's history (newest first), the current choice's switches, download,
    change and erasure, and the way back to the site."""
    subject, records = subjects.history(token)
    # the browser's preference, else the language the visitor last chose in
    last_used = primary(records[-1]["language"])
    language = negotiate(None, request.headers.get("Accept-Language"),
                         last_used if last_used in CATALOGUE_LANGUAGES else "en")
    described = [describe(r, language) for r in records]
    latest = notice(subject.site, records[-1]["config_version"])
    optional = [{"id": p["id"], "name": localise(p["name"], language, latest["default_language"]),
                 "on": records[-1]["purposes"].get(p["id"], False)}
                for p in latest["purposes"] if not p["required"]]
    return page(token=token, subject=subject, site=site_link(subject.site),
                records=described[::-1], optional=optional, language=language,
                message=message, error=error, status=status)


@dataclass
class SiteLink:
    name: str
    url: str | None  # the site's first registered origin, the way back


def site_link(site_key: str) -> SiteLink:
    site = db.session.execute(db.select(Site).filter_by(key=site_key)).scalar_one_or_none()
    if site is None:
        return SiteLink(site_key, None)
    origins = site.origin_list
    return SiteLink(site.name, origins[0] + "/" if origins else None)


def history_or_error(token: str, error: ServiceError | str) -> tuple[str, int]:
    """A refused change or erasure: the history again, with the reason above it (or the
    token form, when the token itself is the problem)."""
    try:
        return history_page(token, error=str(error), status=400)
    except ServiceError:
        return page(token=token, error=str(error), status=400)


@bp.post("/download")
def download():
    try:
        document = subjects.download(request.form.get("token", "").strip())
    except ServiceError as error:
        return page(error=str(error), status=400)
    response = Response(json.dumps(document, indent=2, ensure_ascii=False),
                        mimetype="application/json")
    response.headers["Content-Disposition"] = 'attachment; filename="my-consent.json"'
    return response


@bp.post("/change")
def change():
    token = request.form.get("token", "").strip()
    chosen = {key.removeprefix("purpose-"): True for key in request.form if key.startswith("purpose-")}
    language = request.form.get("language", "en")
    if language not in CATALOGUE_LANGUAGES:
        language = "en"
    try:
        recorded = subjects.change(token, chosen, language)
    except ServiceError as error:
        return history_or_error(token, error)
    # true because the banner asks for it (cmp_server.sync): the old receipt is now stale
    name = site_link(recorded.receipt["site"]).name
    return history_page(recorded.token, f"Your new choice is recorded. {name} applies it "
                                        "from the next page of the site you open in this browser.")


@bp.post("/erase")
def erase():
    token = request.form.get("token", "").strip()
    if request.form.get("confirm") != "yes":
        return history_or_error(token, "Tick the box to confirm the erasure.")
    try:
        site = site_link(subjects.identify(token).site)
        erased = subjects.erase(token)
    except ServiceError as error:
        return history_or_error(token, error)
    return page(erased=erased, site=site,
                message=f"{len(erased)} consent records were erased. The proof that a choice was "
                        "made stays sealed, without anything that points to you. "
                        f"{site.name} asks for your choice again on the next page of the site you "
                        "open in this browser.")


@bp.get("/fill.js")
def fill_script():
    """Moves a token passed in the URL fragment (#token=…, never sent to any server) into
    the form and submits it; an external file, so it works under a strict CSP."""
    body = ("(function(){var m=location.hash.match(/token=([A-Za-z0-9_.-]+)/);"
            "if(!m)return;history.replaceState(null,'',location.pathname);"
            "var f=document.getElementById('token-form');"
            "f.elements.token.value=m[1];f.submit();})();")
    return Response(body, mimetype="text/javascript", headers={"Cache-Control": "max-age=86400"})
