"""The demo: a site with catalogue vendors and a published configuration, and a page that
embeds the banner the way a customer's page would.

The page's gated tags are small local scripts standing in for each vendor's real script
(this machine has no route to the vendors' hosts); each says on the page that it ran, so
a visitor can watch consent release them. Mixpanel also runs for real: its browser SDK
(mixpanel-browser from npm, installed by `make setup`) is served from here and installed
with Mixpanel's own snippet, held back like the rest.
"""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import (Blueprint, Response, abort, current_app, make_response, render_template, request,
                   send_file)
from markupsafe import escape

from cmp_server.accounts import users, workspaces
from cmp_server.sites import gvl, versions
from cmp_server.sites.tcf import PLACEHOLDER_CMP_ID
from cmp_server.banner.assets import BANNER_DIR
from cmp_server.banner.strings import BANNER_LANGUAGES
from cmp_server.platform.languages import negotiate
from cmp_server.platform.errors import ServiceError
from cmp_server.platform.extensions import db
from cmp_server.models import Role, Site, SiteOrigin, Vendor
from cmp_server.sites.registry import create_site, normalise_origin

bp = Blueprint("demo", __name__, url_prefix="/demo")

DEMO_SITE_NAME = "Demo shop"
DEMO_CONTROLLER = {
    "name": "Demo Shop AB",
    "address": "Storgatan 1, 111 22 Stockholm",
    "country": "SE",
    "email": "privacy@demo.example",
}
DEMO_ADMIN_EMAIL = "admin@demo.example"
DEMO_PASSWORD_FILE = "demo_admin_password"
# (vendor id, retention tier): Piwik PRO on its Enterprise tier shows the 25-month retention.
DEMO_VENDORS = [
    ("craft-cms", None),
    ("google-analytics", None),
    ("mixpanel", None),
    ("piwik-pro", "enterprise"),
    ("hubspot", None),
    ("facebook", None),
    ("youtube", None),
]
# Real vendor code the demo serves itself, from the banner's npm devDependencies.
VENDOR_FILES = {
    "mixpanel.js": "mixpanel-browser/dist/mixpanel.min.js",
    "mixpanel-snippet.js": "mixpanel-browser/dist/mixpanel-jslib-snippet.min.js",
}


@dataclass
class Demo:
    site: Site
    version_number: int
    admin_email: str
    admin_password: str | None  # None when the admin existed before and was not ours


def find_demo_site(name: str = DEMO_SITE_NAME) -> Site | None:
    return db.session.execute(
        db.select(Site).filter_by(name=name).order_by(Site.id).limit(1)
    ).scalar_one_or_none()


def ensure_demo_admin(instance_path: str) -> tuple[str, str | None]:
    """The demo admin, with a random password kept (mode 0600) in the instance folder."""
    password_file = Path(instance_path) / DEMO_PASSWORD_FILE
    if users.find_user(DEMO_ADMIN_EMAIL) is not None:
        return DEMO_ADMIN_EMAIL, (
            password_file.read_text().strip() if password_file.exists() else None
        )
    password = secrets.token_urlsafe(15)
    users.create_user({"email": DEMO_ADMIN_EMAIL, "password": password, "operator": True,
                       "role": Role.ADMIN.value,
                       "workspace": workspaces.default_workspace().id}, "demo")
    password_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    return DEMO_ADMIN_EMAIL, password


TCF_DEMO_SITE_NAME = "TCF demo publisher"
TCF_DEMO_CONTROLLER = {**DEMO_CONTROLLER, "name": "Demo Publisher GmbH",
                       "address": "Hauptstraße 1, 10115 Berlin", "country": "DE"}
# The demo's own GVL: invented partners under ids far beyond IAB's registrations (65001..),
# so no site published with it can signal anything to a real vendor.
DEMO_GVL = Path(__file__).parent / "sites" / "demo_gvl.json"
TCF_DEMO_VENDOR_COUNT = 4
TCF_DEMO_ATPS = [{"id": 89, "name": "Demo ad technology provider (Google ATP list)",
                  "policy_url": "https://atp.demo.example/privacy"}]


def ensure_tcf_demo(origins: list[str], instance_path: str) -> Demo:
    """Create or reuse the TCF demo site: the latest stored GVL's first partners (the demo's
    own small GVL, written locally, when none is stored), Google ATPs, published under the
    operator's CMP id or PLACEHOLDER_CMP_ID."""
    if gvl.latest_gvl() is None:
        gvl.store_gvl(json.loads(DEMO_GVL.read_text("utf-8")), {})
    latest = gvl.latest_gvl().document
    partners = sorted(int(key) for key, vendor in latest["vendors"].items()
                      if not vendor.get("deletedDate"))[:TCF_DEMO_VENDOR_COUNT]
    site = demo_site(TCF_DEMO_SITE_NAME, TCF_DEMO_CONTROLLER, origins)
    setting = {"enabled": True, "vendors": partners, "google_atps": TCF_DEMO_ATPS}
    if site.draft.tcf != setting:
        versions.update_draft(site, {"tcf": setting}, "demo")
    cmp_id = current_app.config.get("CMP_TCF_CMP_ID") or PLACEHOLDER_CMP_ID
    version, _changes = versions.publish(site, "demo", cmp_id=cmp_id)
    email, password = ensure_demo_admin(instance_path)
    return Demo(site, version.number, email, password)


def demo_site(name: str, controller: dict, origins: list[str]) -> Site:
    """The demo site of that name, created or made embeddable from ``origins``."""
    site = find_demo_site(name)
    if site is None:
        return create_site({
            "name": name,
            "origins": origins,
            "controller": controller,
            "privacy_policy_url": "https://demo.example/privacy",
        }, "demo", workspaces.default_workspace().id)
    for origin in map(normalise_origin, origins):
        if origin not in site.origin_list:
            site.origins.append(SiteOrigin(origin=origin))
    db.session.commit()
    return site


def ensure_demo(origins: list[str], instance_path: str) -> Demo:
    """Create or reuse the demo site, make sure it can be embedded from ``origins``, put the
    demo vendors on its draft and publish (a no-op when nothing changed)."""
    missing = [vid for vid, _ in DEMO_VENDORS if db.session.get(Vendor, vid) is None]
    if missing:
        raise ServiceError(
            {"vendors": [f"not in the catalogue: {', '.join(missing)}"]},
            "Import the catalogue first (flask --app cmp_server cmp import-vendors).",
        )
    site = demo_site(DEMO_SITE_NAME, DEMO_CONTROLLER, origins)
    if [(v.vendor_id, v.retention_tier) for v in site.draft.vendors] != DEMO_VENDORS:
        versions.set_draft_vendors(site, DEMO_VENDORS, "demo")
    version, _changes = versions.publish(site, "demo")
    email, password = ensure_demo_admin(instance_path)
    return Demo(site, version.number, email, password)


@bp.get("/")
def page():
    site = find_demo_site()
    if site is None:
        abort(404, description="No demo site yet: run `flask --app cmp_server cmp demo`.")
    version = versions.latest_version(site)
    if version is None:
        abort(404, description="The demo site has no published configuration.")
    # like a visitor's own site in their language: the page's lang follows the browser
    language = negotiate(None, request.headers.get("Accept-Language"), site.default_language,
                         BANNER_LANGUAGES)
    response = make_response(render_template(
        "demo.html", site=site, version=version, vendors=version.content["vendors"],
        language=language))
    response.vary.add("Accept-Language")
    return response


@bp.get("/tcf/")
def tcf_page():
    site = find_demo_site(TCF_DEMO_SITE_NAME)
    version = versions.latest_version(site) if site else None
    if version is None or "tcf" not in version.content:
        abort(404, description="No TCF demo site yet: run `flask --app cmp_server cmp demo --tcf`.")
    tcf = version.content["tcf"]
    return render_template("demo_tcf.html", site=site, tcf=tcf, language="en",
                           placeholder=tcf["cmp_id"] == PLACEHOLDER_CMP_ID)


def demo_vendor_name(vendor_id: str) -> str:
    """The name of a vendor on the demo site's published version; 404 for any other."""
    site = find_demo_site()
    version = versions.latest_version(site) if site else None
    names = {v["id"]: v["name"] for v in version.content["vendors"]} if version else {}
    if vendor_id not in names:
        abort(404, description=f"{vendor_id!r} is not on the demo site.")
    return names[vendor_id]


@bp.get("/tags/<vendor_id>.js")
def stand_in_tag(vendor_id: str):
    """A stand-in for a vendor's script: it reports on the page that it ran."""
    body = render_template("demo_tag.js", vendor_id=vendor_id,
                           vendor_name=demo_vendor_name(vendor_id))
    response = Response(body, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/vendor/<name>")
def vendor_file(name: str):
    """A vendor's real SDK, from static/banner/node_modules."""
    if name not in VENDOR_FILES:
        abort(404, description=f"{name!r} is not a vendor file of the demo.")
    path = BANNER_DIR / "node_modules" / VENDOR_FILES[name]
    if not path.is_file():
        abort(500, description=f"{path} is missing: run `make setup` (npm ci in static/banner).")
    return send_file(path, mimetype="text/javascript", max_age=300)


@bp.get("/embed/<vendor_id>")
def stand_in_embed(vendor_id: str):
    """A stand-in for a vendor's embedded player, for an iframe held back by data-cmp-src."""
    name = escape(demo_vendor_name(vendor_id))
    return Response(
        f'<!doctype html><meta charset="utf-8"><title>{name}</title>'
        f'<body style="margin:0;display:grid;place-items:center;height:100vh;'
        f'font:16px system-ui;background:#111;color:#fff">'
        f'<p id="embed">{name} embed (stand-in) loaded</p>',
        mimetype="text/html",
    )


def demo_url(base_url: str, tcf: bool = False) -> str:
    return base_url.rstrip("/") + ("/demo/tcf/" if tcf else "/demo/")


def default_origins(port: int) -> list[str]:
    return [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]

