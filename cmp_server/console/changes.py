"""What publishing changes, in plain words: each change with what it was and what it
becomes (old text to new text, 12 to 6 months, vendor names), for the console's publish,
history and rollback pages. Computed from two snapshots (versions.snapshot)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cmp_server.console.labels import TEXTS, THEME
from cmp_server.sites import google_consent_mode

SETTINGS = [  # (content key, what it is called)
    ("default_language", "Default language"),
    ("consent_lifetime_months", "Consent lasts"),
    ("refusal_lifetime_months", "A refusal is remembered"),
    ("policy_url", "Privacy policy address"),
]
CONTROLLER = {"name": "name", "address": "postal address", "country": "country",
              "email": "e-mail", "phone": "phone"}
EMPTY = {"purposes": [], "vendors": [], "texts": {}, "theme": {}, "region_rules": {}}


@dataclass(frozen=True)
class Change:
    what: str
    before: str | None  # None: it was not there
    after: str | None  # None: it is gone


def months(count: int) -> str:
    """A retention or lifetime in words, for the console's pages."""
    if count == 0:
        return "not kept after the visit"
    return f"{count} month" if count == 1 else f"{count} months"


def name_of(entry: dict[str, Any]) -> str:
    name = entry.get("name")
    return name.get("en", next(iter(name.values()))) if isinstance(name, dict) else name


def vendor_changes(old: dict, new: dict) -> list[Change]:
    olds, news = {v["id"]: v for v in old["vendors"]}, {v["id"]: v for v in new["vendors"]}
    found = [Change("Vendor added", None, news[v]["name"]) for v in news if v not in olds]
    found += [Change("Vendor removed", olds[v]["name"], None) for v in olds if v not in news]
    for vid in (v for v in news if v in olds and news[v] != olds[v]):
        found += changed_vendor(olds[vid], news[vid])
    return found


def changed_vendor(before: dict, after: dict) -> list[Change]:
    name, found = after["name"], []
    if before["retention_months"] != after["retention_months"]:
        found.append(Change(f"{name}: data retention", months(before["retention_months"]),
                            months(after["retention_months"])))
    if sorted(before["purposes"]) != sorted(after["purposes"]):
        found.append(Change(f"{name}: purposes", ", ".join(before["purposes"]),
                            ", ".join(after["purposes"])))
    if before["legal_basis"] != after["legal_basis"]:
        found.append(Change(f"{name}: legal basis", before["legal_basis"].replace("_", " "),
                            after["legal_basis"].replace("_", " ")))
    return found or [Change(f"{name}: the catalogue's facts (cookies, hosting, texts)",
                            "as before", "updated")]


def purpose_changes(old: dict, new: dict) -> list[Change]:
    asked = lambda purposes: {p["id"]: p for p in purposes if not p["required"]}  # noqa: E731
    olds, news = asked(old["purposes"]), asked(new["purposes"])
    return ([Change("Purpose asked about", None, name_of(news[p])) for p in news if p not in olds]
            + [Change("Purpose no longer asked about", name_of(olds[p]), None)
               for p in olds if p not in news])


def text_changes(old: dict, new: dict) -> list[Change]:
    found = []
    for language in sorted(set(old["texts"]) | set(new["texts"])):
        before, after = old["texts"].get(language, {}), new["texts"].get(language, {})
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key):
                found.append(Change(
                    f"Text ({language}): {TEXTS.get(key, key)}",
                    before.get(key, "the banner's own wording"),
                    after.get(key, "the banner's own wording")))
    return found


def setting_changes(old: dict, new: dict) -> list[Change]:
    found = []
    for key, label in SETTINGS:
        if key in new and old.get(key) != new.get(key):
            show = months if key.endswith("_months") else str
            found.append(Change(label, show(old[key]) if old.get(key) is not None else None,
                                show(new[key]) if new.get(key) is not None else None))
    old_c, new_c = old.get("controller") or {}, new.get("controller") or {}
    for key, label in CONTROLLER.items():
        if old_c.get(key) != new_c.get(key):
            found.append(Change(f"Data controller's {label}", old_c.get(key), new_c.get(key)))
    for key in sorted(set(old["theme"]) | set(new["theme"])):
        if old["theme"].get(key) != new["theme"].get(key):
            found.append(Change(f"Look: {THEME.get(key, key).lower()}",
                                old["theme"].get(key, "the banner's own"),
                                new["theme"].get(key, "the banner's own")))
    for region in sorted(set(old["region_rules"]) | set(new["region_rules"])):
        if old["region_rules"].get(region) != new["region_rules"].get(region):
            found.append(Change(f"Visitors in {region}", old["region_rules"].get(region),
                                new["region_rules"].get(region)))
    return found + consent_mode_changes(old, new) + tcf_changes(old, new)


CONSENT_MODE = {"mode": "Google Consent Mode", "ads_data_redaction": "Google ads data redaction",
                "url_passthrough": "Google URL passthrough"}


def consent_mode_changes(old: dict, new: dict) -> list[Change]:
    before = {**google_consent_mode.DEFAULTS, **old.get("google_consent_mode", {})}
    after = {**google_consent_mode.DEFAULTS, **new.get("google_consent_mode", {})}
    words = {True: "on", False: "off", "basic": "basic", "advanced": "advanced"}
    return [Change(label, words[before[key]], words[after[key]])
            for key, label in CONSENT_MODE.items() if before[key] != after[key]]


def described(old: dict[str, Any] | None, new: dict[str, Any]) -> list[Change]:
    """Every change from ``old`` (None: nothing published yet) to ``new``, in words."""
    old = old or EMPTY
    return (vendor_changes(old, new) + purpose_changes(old, new) + text_changes(old, new)
            + setting_changes(old, new))


def tcf_changes(old: dict, new: dict) -> list[Change]:
    """IAB TCF on or off, its vendors, its Google ATPs and the Global Vendor List version."""
    before, after = old.get("tcf") or {}, new.get("tcf") or {}
    if before == after:
        return []
    found = []
    if bool(before) != bool(after):
        found.append(Change("IAB TCF", "on" if before else "off", "on" if after else "off"))
    old_gvl, new_gvl = before.get("gvl", {}), after.get("gvl", {})
    if before and after and old_gvl["vendorListVersion"] != new_gvl["vendorListVersion"]:
        found.append(Change("Global Vendor List version", str(old_gvl["vendorListVersion"]),
                            str(new_gvl["vendorListVersion"])))
    old_vendors, new_vendors = old_gvl.get("vendors", {}), new_gvl.get("vendors", {})
    for key in sorted(new_vendors.keys() - old_vendors.keys(), key=int):
        found.append(Change("TCF vendor added", None, f"{new_vendors[key]['name']} ({key})"))
    for key in sorted(old_vendors.keys() - new_vendors.keys(), key=int):
        found.append(Change("TCF vendor removed", f"{old_vendors[key]['name']} ({key})", None))
    old_atps = {a["id"]: a for a in before.get("google_atps", [])}
    new_atps = {a["id"]: a for a in after.get("google_atps", [])}
    for key in sorted(new_atps.keys() | old_atps.keys()):
        if old_atps.get(key) != new_atps.get(key):
            found.append(Change("Google ATP", old_atps[key]["name"] if key in old_atps else None,
                                new_atps[key]["name"] if key in new_atps else None))
    return found
