"""Getting a site's banner in front of visitors: the steps, each ticked by what the
platform can see (origins registered, vendors chosen, a version published, the banner
answering on the site, a scan run), and the markup that holds each vendor's tags back."""
from __future__ import annotations

from dataclasses import dataclass

from flask import url_for

from cmp_server.models import BannerImpression, SiteScan, Site
from cmp_server.platform.extensions import db


@dataclass(frozen=True)
class Step:
    label: str
    done: bool
    link: str
    hint: str


def banner_seen(site: Site) -> bool:
    """Whether the banner has asked a visitor on the site (it counts each time it asks)."""
    return db.session.execute(db.select(BannerImpression.id).where(
        BannerImpression.site_key == site.key).limit(1)).first() is not None


def steps(site: Site) -> list[Step]:
    key = site.key
    scanned = db.session.get(SiteScan, site.id) is not None
    return [
        Step("Register the origins that embed the banner", bool(site.origins),
             url_for("console.site_settings", site_key=key),
             "The banner answers only pages of these addresses."),
        Step("Choose the vendors the site uses", bool(site.draft and site.draft.vendors),
             url_for("console.edit_draft", site_key=key),
             "Each is listed in the banner with its purposes, cookies and retention."),
        Step("Publish a version", bool(site.versions), url_for("console.publish_site", site_key=key),
             "Visitors see the draft only once it is published."),
        Step("Put the snippet on the site", banner_seen(site), "#snippet",
             "Ticked once the banner has asked a visitor on one of the origins."),
        Step("Scan the site for tags that run before consent", scanned,
             url_for("console.site_scan", site_key=key),
             "A real browser visits the pages and reports what ran before a choice."),
    ]


@dataclass(frozen=True)
class Tagging:
    vendor_id: str
    name: str
    hosts: list[str]
    gated: bool  # consent vendors need the markup; others run without asking


def tagging(site: Site) -> list[Tagging]:
    chosen = [d.vendor for d in (site.draft.vendors if site.draft else [])]
    return [Tagging(v.id, v.name, list(v.document.get("hosts", [])), v.legal_basis == "consent")
            for v in chosen]
