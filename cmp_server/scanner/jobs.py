"""Scanning sites: the browser (``browser``) and the matching (``report``) put
together with the database, for the CLI and the console.

A site keeps its latest scan (``SiteScan``, one row per site). The console starts a scan in
a background thread of the worker that got the request and answers at once; the row says
"running" until the thread stores the report or the error. A worker that dies mid-scan
leaves a row that stays "running": after ``STALE_AFTER`` it counts as interrupted, and a new
scan may start. Nothing is shared in memory between workers.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app
from sqlalchemy import text

from cmp_server.accounts import audit
from cmp_server.scanner import browser
from cmp_server.sites import vendors, versions
from cmp_server.platform.errors import ServiceError
from cmp_server.platform.extensions import db
from cmp_server.models import Site, SiteScan, User, Vendor, utcnow
from cmp_server.scanner.guard import guarded
from cmp_server.scanner.report import build_report
from cmp_server.scanner.browser import ScanOptions
from cmp_server.sites.registry import get_site, normalise_origin

STALE_AFTER = timedelta(minutes=30)
# Console scans run one at a time per worker process (each is a Chromium: hundreds of MB
# and a core); more wait their turn. The server's workers are cpu_count + 1.
SCAN_SLOTS = threading.BoundedSemaphore(1)
CONSOLE_LIMITS = {"depth": (0, 3), "max_pages": (1, 50)}


# --- input ----------------------------------------------------------------------------------

def check_urls(urls: list[str]) -> list[str]:
    """Start pages: http(s) URLs with a host, at least one."""
    if not urls:
        raise ServiceError({"urls": ["give at least one URL"]})
    bad = [u for u in urls
           if urlsplit(u).scheme not in ("http", "https") or not urlsplit(u).hostname]
    if bad:
        raise ServiceError({"urls": [f"{u!r}: not an http or https URL" for u in bad]})
    return urls


def site_start_pages(site: Site, lines: list[str]) -> list[str]:
    """The console's start pages: the given URLs, each on one of the site's origins (the
    scanner fetches from this server's network, so it only goes where the site is), or
    else the home page of every origin."""
    urls = [line.strip() for line in lines if line.strip()] or [o + "/" for o in site.origin_list]
    check_urls(urls)
    foreign = [u for u in urls if normalise_origin(f"{urlsplit(u).scheme}://{urlsplit(u).netloc}")
               not in site.origin_list]
    if foreign:
        raise ServiceError({"urls": [f"{u!r}: not on one of the site's origins" for u in foreign]})
    return urls


def console_options(depth: str, max_pages: str) -> ScanOptions:
    values = {}
    for field, given in (("depth", depth), ("max_pages", max_pages)):
        low, high = CONSOLE_LIMITS[field]
        if not given.strip().isdigit() or not low <= int(given) <= high:
            raise ServiceError({field: [f"must be a whole number from {low} to {high}"]})
        values[field] = int(given)
    return ScanOptions(**values)


# --- scanning -------------------------------------------------------------------------------

def catalogue_documents(site: Site | None) -> list[dict[str, Any]]:
    """What a scan's findings are matched against: the catalogue, and the custom vendors
    of the site's workspace (never another workspace's: their names would leak into the
    report, and theirs into ours)."""
    workspace = [site.workspace_id] if site is not None else []
    return [v.document for v in db.session.execute(
        db.select(Vendor).where(vendors.usable_in(workspace)).order_by(Vendor.id)).scalars()]


def site_configuration(site: Site | None) -> dict[str, Any] | None:
    """What finding "configured but never seen" compares with: the newest published version."""
    version = versions.latest_version(site) if site else None
    if version is None:
        return None
    return {"site": site.key, "version": version.number, "vendors": version.content["vendors"]}


def banner_site(observation: dict[str, Any]) -> Site | None:
    """The site whose banner the scanned pages embed, when this server knows it."""
    for banner in observation["banners"]:
        if banner["site_key"]:
            found = db.session.execute(
                db.select(Site).filter_by(key=banner["site_key"])).scalar_one_or_none()
            if found:
                return found
    return None


def run_scan(urls: list[str], options: ScanOptions, site: Site | None = None,
             progress=None, guard: bool = False, **scanner_args) -> dict[str, Any]:
    """Scan and report. Without ``site``, the site of the banner found on the pages is used
    for the configured vendors, when it is one of ours. With ``guard`` (console scans),
    the browser reaches no loopback, private or reserved address (guard) but those
    of CMP_SCAN_ALLOW_NETWORKS, and the report lists what was refused."""
    if guard:
        with guarded(current_app.config["CMP_SCAN_ALLOW_NETWORKS"]) as proxy:
            observation = browser.scan(check_urls(urls), options, progress, proxy=proxy.url,
                                       **scanner_args)
        observation["errors"] += [f"refused: {reason}" for reason in proxy.refused]
    else:
        observation = browser.scan(check_urls(urls), options, progress, **scanner_args)
    site = site or banner_site(observation)
    return build_report(observation, catalogue_documents(site), site_configuration(site))


# --- the latest scan of a site --------------------------------------------------------------

def latest_scan(site: Site) -> SiteScan | None:
    return db.session.get(SiteScan, site.id)


def is_running(scan: SiteScan | None) -> bool:
    return (scan is not None and scan.status == "running"
            and utcnow() - aware(scan.started_at) < STALE_AFTER)


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; they are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def running_scans() -> int:
    """Scans marked running on the whole server (every worker, every host) and not stale."""
    return db.session.query(SiteScan).filter(
        SiteScan.status == "running", SiteScan.started_at > utcnow() - STALE_AFTER).count()


def hold_scan_count() -> None:
    """Serialise starts, so that two workers never both see the last free place: SQLite
    takes its single write lock; PostgreSQL locks the table against other writers."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("LOCK TABLE site_scans IN SHARE ROW EXCLUSIVE MODE"))
    else:
        db.session.execute(text("UPDATE site_scans SET site_id = site_id WHERE 0"))


def begin(site: Site, urls: list[str], options: ScanOptions, actor: User | str | None,
          most_running: int | None = None) -> SiteScan:
    """Mark the site's scan as running (refused while another is, or while
    ``most_running`` scans run on the server), and audit its start."""
    if most_running is not None:
        hold_scan_count()
        if running_scans() >= most_running:
            db.session.rollback()
            raise ServiceError({"scan": [f"{most_running} scan(s) are running on this server, "
                                         "the most it runs at once: start this one when the "
                                         "report of one of them is in"]},
                               "The server is busy scanning.")
    scan = latest_scan(site)
    if is_running(scan):
        raise ServiceError({"scan": ["a scan of this site is already running"]},
                           "A scan is running: wait for its report.")
    if scan is None:
        scan = SiteScan(site_id=site.id)
        db.session.add(scan)
    scan.status, scan.started_at, scan.finished_at = "running", utcnow(), None
    scan.started_by, scan.urls = audit.actor_name(actor), urls
    scan.report, scan.error = None, None
    audit.record(actor, "scan.start", "site", site.key,
                 after={"urls": urls, "depth": options.depth, "max_pages": options.max_pages})
    db.session.commit()
    return scan


def finish(site_id: int, report: dict[str, Any] | None = None, error: str | None = None) -> None:
    scan = db.session.get(SiteScan, site_id)
    scan.status = "failed" if error else "done"
    scan.report, scan.error, scan.finished_at = report, error, utcnow()
    db.session.commit()


def scan_site(site_key: str, urls: list[str], options: ScanOptions, actor: User | str | None,
              progress=None, **scanner_args) -> dict[str, Any]:
    """Scan and keep the report as the site's latest."""
    site = get_site(site_key)
    check_urls(urls)
    begin(site, urls, options, actor)
    try:
        report = run_scan(urls, options, site, progress, **scanner_args)
    except Exception as failure:
        db.session.rollback()
        finish(site.id, error=f"{type(failure).__name__}: {failure}")
        raise
    finish(site.id, report)
    return report


def start_in_background(app: Flask, site: Site, urls: list[str], options: ScanOptions,
                        actor: User) -> threading.Thread:
    """The console's scan: marked running now (at most CMP_SCAN_MAX_RUNNING on the
    server), run in a thread of this worker once no other console scan of this worker is
    running (SCAN_SLOTS)."""
    begin(site, urls, options, actor, app.config["CMP_SCAN_MAX_RUNNING"])
    site_id, site_key = site.id, site.key

    def work() -> None:
        with SCAN_SLOTS, app.app_context():
            try:
                finish(site_id, run_scan(urls, options, db.session.get(Site, site_id),
                                         guard=True))
            except Exception as failure:  # the page shows it; the worker goes on
                db.session.rollback()
                app.logger.exception("scan of site %s failed", site_key)
                finish(site_id, error=f"{type(failure).__name__}: {failure}")

    thread = threading.Thread(target=work, name=f"scan-{site_key}", daemon=True)
    thread.start()
    return thread
