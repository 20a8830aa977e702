"""The site scanner's report: what the browser saw, matched to catalogue vendors.

Pure functions over plain JSON (no Flask, no database, no browser), so every rule here is
unit-tested on hand-made observations. ``cmp_server.scanner`` produces the observation;
``build_report`` turns it into the report, vendor by vendor, with four kinds of finding:

- ``before_consent``: a vendor that needs consent set or requested something before any
  choice was made;
- ``after_rejection`` / ``after_withdrawal``: such a vendor's cookie or storage key was still
  there (``kept``: the banner did not or could not remove it) or was set again (``set``)
  after Reject all or a withdrawal, or its hosts were requested after the choice;
- ``unknown``: a cookie, storage key or third-party host no catalogue vendor lists, grouped
  by owner with a proposed catalogue entry in the catalogue's TOML format;
- ``never_seen``: a vendor of the site's newest published configuration that left no trace
  in any pass (configured but not installed, or the catalogue does not describe it well).
"""
from __future__ import annotations

import ipaddress
import json
import math
import re
from datetime import datetime, timezone
from typing import Any, Iterable

from cmp_server.sites.catalogue import CATALOGUE_LANGUAGES, glob_regex

PASSES = ("before", "reject", "accept", "withdraw")
PASS_LABELS = {
    "before": "before any choice",
    "reject": "after Reject all",
    "accept": "after Accept all",
    "withdraw": "after withdrawal",
}
FINDING_PASSES = {"before_consent": "before", "after_rejection": "reject",
                  "after_withdrawal": "withdraw"}
FINDING_LABELS = {
    "before_consent": "before consent",
    "after_rejection": "after Reject all",
    "after_withdrawal": "after withdrawal",
    "never_seen": "configured on the site but never seen",
    "not_configured": "seen on the site but not in its published configuration",
}
STORAGE_TYPES = ("cookie", "local_storage", "session_storage")
# second-level labels under which a country code top-level domain sells names (co.uk)
SECOND_LEVEL = {"ac", "co", "com", "edu", "gov", "net", "org"}
MAX_URLS_PER_HOST = 3
AFTER_CHOICE = {"kept": "still there after the choice", "set": "set after the choice"}


# --- hosts and sites ------------------------------------------------------------------------

def site_of(host: str) -> str:
    """The registrable part of a host, roughly: the last two labels (three under co.uk and
    the like); an IP address or a single label is its own site. No public suffix list is
    shipped, so hosting platforms that give each customer a subdomain count as one site."""
    host = host.lower().strip(".")
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host
    except ValueError:
        pass
    labels = host.split(".")
    keep = 3 if len(labels) > 2 and len(labels[-1]) == 2 and labels[-2] in SECOND_LEVEL else 2
    return ".".join(labels[-keep:])


def host_matches(host: str, pattern: str) -> bool:
    """The banner's rule (static/banner/src/gating.js): "*.x.com" matches subdomains."""
    return host.endswith(pattern[1:]) if pattern.startswith("*.") else host == pattern


# --- matching -------------------------------------------------------------------------------

class VendorIndex:
    """Finds the catalogue vendor of a cookie or storage key (by name or pattern) and of a
    host (by the vendor's hosts)."""

    def __init__(self, vendors: Iterable[dict[str, Any]]):
        self.vendors = {v["id"]: v for v in vendors}
        self.keys = [(c["storage"], glob_regex(c["name"]) if c.get("match") == "glob" else None,
                      c["name"], v["id"])
                     for v in self.vendors.values() for c in v.get("cookies", [])]

    def by_host(self, host: str) -> str | None:
        return next((vid for vid, v in self.vendors.items()
                     if any(host_matches(host, h) for h in v.get("hosts", []))), None)

    def by_key(self, storage: str, name: str) -> str | None:
        for kind, pattern, exact, vendor_id in self.keys:
            if kind == storage and (pattern.match(name) if pattern else name == exact):
                return vendor_id
        return None

    def vendor_of(self, item: dict[str, Any]) -> str | None:
        if item["type"] == "request":
            return self.by_host(item["host"])
        found = self.by_key(item["type"], item["name"])
        if found is None and item.get("third_party"):
            found = self.by_host(item["host"])  # an unlisted cookie on a vendor's own host
        return found


# --- merging the passes ---------------------------------------------------------------------

def identity(item: dict[str, Any]) -> tuple:
    if item["type"] == "request":
        return ("request", item["host"])
    if item["type"] == "cookie":
        return ("cookie", item["name"], item["domain"], item["path"])
    return (item["type"], item["name"], item["origin"])


def merge_passes(passes: dict[str, dict[str, list]]) -> list[dict[str, Any]]:
    """One entry per distinct cookie, storage key or third-party host, with the passes it
    was seen in (in pass order) and, after a choice, whether it was kept or set again."""
    merged: dict[tuple, dict[str, Any]] = {}
    for name in PASSES:
        seen = passes.get(name, {})
        for item in seen.get("cookies", []) + seen.get("storage", []) + seen.get("requests", []):
            entry = merged.setdefault(identity(item), new_entry(item))
            if name not in entry["passes"]:
                entry["passes"].append(name)
            if item.get("after_choice"):
                entry["after_choice"][name] = item["after_choice"]
            if item["type"] == "request":
                add_request(entry, item)
    return list(merged.values())


def new_entry(item: dict[str, Any]) -> dict[str, Any]:
    entry = {key: value for key, value in item.items()
             if key not in ("after_choice", "url", "resource_type")}
    entry.update(passes=[], after_choice={})
    if item["type"] == "request":
        entry.update(urls=[], resource_types=[])
    return entry


def add_request(entry: dict[str, Any], item: dict[str, Any]) -> None:
    if item["resource_type"] not in entry["resource_types"]:
        entry["resource_types"].append(item["resource_type"])
    if len(entry["urls"]) < MAX_URLS_PER_HOST and item["url"] not in entry["urls"]:
        entry["urls"].append(item["url"])


# --- the report -----------------------------------------------------------------------------

def build_report(observation: dict[str, Any], catalogue: Iterable[dict[str, Any]],
                 configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report for one scan. ``catalogue``: vendor documents (catalogue and custom);
    ``configuration``: {site, version, vendors} of the site's newest published version,
    when the scan is for a known site."""
    index = VendorIndex(catalogue)
    configured = {v["id"]: v for v in (configuration or {}).get("vendors", [])}
    for vendor_id, vendor in configured.items():
        index.vendors.setdefault(vendor_id, vendor)  # one since removed from the catalogue
    by_vendor: dict[str, list] = {}
    unknown: list[dict[str, Any]] = []
    for entry in merge_passes(observation["passes"]):
        vendor_id = index.vendor_of(entry)
        (by_vendor.setdefault(vendor_id, []) if vendor_id else unknown).append(entry)
    vendors = [vendor_report(index.vendors[vid], by_vendor.get(vid, []), vid in configured,
                             configuration is not None)
               for vid in sorted(set(by_vendor) | set(configured),
                                 key=lambda vid: index.vendors[vid]["name"].lower())]
    unknown_groups = group_unknown(unknown, observation)
    report = {
        "scanned_at": observation["finished_at"],
        "urls": observation["urls"],
        "pages": observation["pages"],
        "depth": observation["depth"],
        "max_pages": observation["max_pages"],
        "banners": observation["banners"],
        "passes": [p for p in PASSES if p in observation["passes"]],
        "site": (configuration or {}).get("site"),
        "config_version": (configuration or {}).get("version"),
        "errors": observation.get("errors", []),
        "vendors": vendors,
        "unknown": unknown_groups,
    }
    report["summary"] = summary(report)
    return report


def vendor_report(vendor: dict[str, Any], items: list[dict[str, Any]], configured: bool,
                  site_known: bool) -> dict[str, Any]:
    findings = []
    if vendor["legal_basis"] == "consent":
        for kind, pass_name in FINDING_PASSES.items():
            hits = [item for item in items if pass_name in item["passes"]]
            if hits:
                findings.append({"kind": kind, "items": hits})
    if configured and not items:
        findings.append({"kind": "never_seen", "items": [],
                         "describes": bool(vendor.get("hosts") or vendor.get("cookies"))})
    if site_known and items and not configured:
        findings.append({"kind": "not_configured", "items": items})
    return {"id": vendor["id"], "name": vendor["name"], "legal_basis": vendor["legal_basis"],
            "purposes": vendor.get("purposes", []), "configured": configured,
            "items": items, "findings": findings}


def summary(report: dict[str, Any]) -> dict[str, int]:
    counts = {kind: 0 for kind in FINDING_LABELS}
    for vendor in report["vendors"]:
        for finding in vendor["findings"]:
            counts[finding["kind"]] += 1
    counts["unknown"] = sum(len(group["items"]) for group in report["unknown"])
    return counts


# --- unknown items and proposed catalogue entries ---------------------------------------------

def group_unknown(items: list[dict[str, Any]], observation: dict[str, Any]) -> list[dict]:
    """Unknown items by owner: each third-party site, and the scanned site's own items."""
    groups: dict[str, list] = {}
    for item in items:
        owner = site_of(item["host"]) if item.get("third_party") else ""
        groups.setdefault(owner, []).append(item)
    return [{"owner": owner or "first party", "third_party": bool(owner), "items": group,
             "proposal": proposal(owner, group, observation)}
            for owner, group in sorted(groups.items())]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "vendor"


def toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def lifetime(item: dict[str, Any], scanned_at: str) -> int | str:
    """Days left on a cookie when it was seen, as the catalogue counts them."""
    if item["type"] != "cookie" or item.get("expires") is None:
        return "session" if item["type"] != "local_storage" else "persistent"
    left = item["expires"] - datetime.fromisoformat(scanned_at).timestamp()
    return max(1, math.ceil(left / 86400))


def proposal(owner: str, items: list[dict[str, Any]], observation: dict[str, Any]) -> str:
    """A catalogue entry (vendors/README.md) for the unknown items of one owner: what the
    scan saw is filled in, everything it cannot know is marked TODO. It is valid TOML in the
    catalogue's shape; the catalogue refuses it until each TODO text visitors would read is
    replaced, so none reaches a banner."""
    scanned_at = observation["finished_at"]
    hosts = sorted({i["host"] for i in items if i["type"] == "request"})
    page = next((i["page"] for i in items if i.get("page")), observation["urls"][0])
    seen = ", ".join(describe(i) for i in items)
    vendor_id = slug(owner) if owner else "unknown-first-party"
    lines = [
        f"# Proposed by the site scanner on {scanned_at[:10]} from what it saw on {page}.",
        "# Check every line marked TODO before adding it to the catalogue.",
        f"id = {toml_string(vendor_id)}",
        f"name = {toml_string(owner or 'Unknown first-party scripts')}   # TODO: the vendor's name",
        'purposes = ["marketing"]   # TODO: guessed; any of preferences, analytics, marketing',
        'legal_basis = "consent"',
        f"policy_url = {toml_string('https://' + (owner or 'example.com') + '/privacy')}   # TODO",
        f"hosts = [{', '.join(toml_string(h) for h in hosts)}]",
        "",
        "[company]",
        'name = "TODO"',
        'address = "TODO"',
        'country = "ZZ"   # TODO: ISO 3166-1 alpha-2',
        "",
        "[retention]",
        "months = 12   # TODO: the vendor's data retention",
        "",
        "[hosting]",
        'locations = ["ZZ"]   # TODO: where the data is stored',
        "transfers_outside_eea = false   # TODO",
    ]
    for item in items:
        if item["type"] != "request":
            lines += cookie_lines(item, scanned_at)
    lines += ["", "[description]"]
    lines += [f'{lang} = "TODO: what this vendor does on the site."'
              for lang in CATALOGUE_LANGUAGES]
    lines += ["", "[[sources]]", f"url = {toml_string(page)}",
              f"facts = {toml_string(('seen by the site scanner: ' + seen)[:500])}", ""]
    return "\n".join(lines)


def cookie_lines(item: dict[str, Any], scanned_at: str) -> list[str]:
    third_party_cookie = item["type"] == "cookie" and item.get("third_party")
    domain = item["domain"] if third_party_cookie else "first_party"
    life = lifetime(item, scanned_at)
    return ["", "[[cookies]]", f"name = {toml_string(item['name'])}",
            f'storage = "{item["type"]}"', f"domain = {toml_string(domain)}",
            f"lifetime = {life if isinstance(life, int) else toml_string(life)}",
            f"description = {toml_string('TODO: what it holds (seen ' + seen_in(item) + ')')}"]


# --- text rendering ---------------------------------------------------------------------------

def seen_in(item: dict[str, Any]) -> str:
    return ", ".join(PASS_LABELS[p] + (f" ({AFTER_CHOICE[item['after_choice'][p]]})"
                                       if p in item["after_choice"] else "")
                     for p in item["passes"])


def describe(item: dict[str, Any]) -> str:
    """One item in a few words: "cookie _fbp (first party, 90 days)"."""
    if item["type"] == "request":
        return f"requests to {item['host']} ({', '.join(item['resource_types'])})"
    party = "third party" if item.get("third_party") else "first party"
    if item["type"] == "cookie":
        expires = ("session" if item.get("expires") is None else "until " + datetime.fromtimestamp(
            item["expires"], timezone.utc).strftime("%Y-%m-%d"))
        return f"cookie {item['name']} on {item['domain']}{item['path']} ({party}, {expires})"
    return f"{item['type'].replace('_', ' ')} key {item['name']} ({item['origin']})"


def render_text(report: dict[str, Any]) -> str:
    """The readable report the CLI prints (the console renders the same data as HTML)."""
    out = [f"Site scan, {report['scanned_at']}: {len(report['pages'])} page(s) from "
           f"{', '.join(report['urls'])} (depth {report['depth']}, at most {report['max_pages']})"]
    if report["site"]:
        out.append(f"Site {report['site']}, published version {report['config_version']}")
    for banner in report["banners"]:
        out.append(f"Banner on {banner['url']}: " + (
            f"found (site {banner['site_key']})" if banner["found"]
            else "not found; only the first pass (no choice) was made"))
    out.append("Passes: " + ", ".join(PASS_LABELS[p] for p in report["passes"]))
    counts = report["summary"]
    out.append("Summary: " + ", ".join(f"{counts[k]} {label}" for k, label in (
        ("before_consent", "before consent"), ("after_rejection", "after rejection"),
        ("after_withdrawal", "after withdrawal"), ("unknown", "unknown to the catalogue"),
        ("never_seen", "configured but never seen"), ("not_configured", "not configured"))))
    for vendor in report["vendors"]:
        out += vendor_lines(vendor)
    if report["unknown"]:
        out += ["", "Unknown to the catalogue"]
    for group in report["unknown"]:
        out.append(f"  {group['owner']}:")
        out += [f"    ? {describe(i)}: {seen_in(i)}" for i in group["items"]]
        out.append("    proposed catalogue entry:")
        out += [("      " + line).rstrip() for line in group["proposal"].splitlines()]
    for error in report["errors"]:
        out.append(f"error: {error}")
    return "\n".join(out) + "\n"


def vendor_lines(vendor: dict[str, Any]) -> list[str]:
    status = "configured" if vendor["configured"] else "not configured"
    basis = "needs consent" if vendor["legal_basis"] == "consent" else "strictly necessary"
    out = ["", f"{vendor['name']} ({vendor['id']}): {basis}, {status}"]
    for finding in vendor["findings"]:
        if finding["kind"] == "never_seen":
            out.append("  ! " + FINDING_LABELS["never_seen"] + (
                "" if finding["describes"] else " (its catalogue entry lists no cookies or hosts)"))
            continue
        if finding["kind"] == "not_configured":
            out.append("  ! " + FINDING_LABELS["not_configured"])
            continue
        pass_name = FINDING_PASSES[finding["kind"]]
        for item in finding["items"]:
            state = item["after_choice"].get(pass_name)
            out.append(f"  ! {FINDING_LABELS[finding['kind']]}: {describe(item)}"
                       + (f", {AFTER_CHOICE[state]}" if state else ""))
    if not vendor["findings"]:
        out.append("  ok: " + ("; ".join(f"{describe(i)}: {seen_in(i)}" for i in vendor["items"])
                               or "nothing seen"))
    return out
