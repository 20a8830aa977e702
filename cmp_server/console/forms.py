"""A refused service call as errors beside the console's form fields, in plain words.

Services report errors by the path of the payload field (``origins[0]``,
``controller.address``, ``theme.accent``); each form names its fields in its own way, so
each gives a function from a path to its field's name. Errors that belong to no field are
listed under "form" (the page shows them at the top)."""
from __future__ import annotations

import re
from typing import Callable

from cmp_server.platform.errors import ServiceError, flatten_errors

PLAIN = [  # marshmallow's wording -> the console's
    (r"^Missing data for required field\.$", lambda m: "This is required."),
    (r"^Field may not be null\.$", lambda m: "This is required."),
    (r"^Length must be between (\d+) and (\d+)\.$",
     lambda m: f"Write {m[1]} to {m[2]} characters." if m[1] != "1" else f"Write at most {m[2]} characters, and not nothing."),
    (r"^Shorter than minimum length (\d+)\.$", lambda m: f"Write at least {m[1]} characters."),
    (r"^Longer than maximum length (\d+)\.$", lambda m: f"Write at most {m[1]} characters."),
    (r"^Not a valid email address\.$", lambda m: "Write an e-mail address, like privacy@example.com."),
    (r"^Not a valid URL\.$", lambda m: "Write a full web address, starting with https://."),
    (r"^Not a valid integer\.$", lambda m: "Write a whole number."),
    (r"^Must be greater than or equal to (\d+) and less than or equal to (\d+)\.$",
     lambda m: f"Choose a number from {m[1]} to {m[2]}."),
]


def plain(reason: str) -> str:
    for pattern, rewrite in PLAIN:
        match = re.match(pattern, reason)
        if match:
            return rewrite(match)
    return reason[:1].upper() + reason[1:]


def field_errors(failure: ServiceError, field_of: Callable[[str], str | None]) -> dict[str, list[str]]:
    """{form field name: [messages]}; a list's item says which line it is."""
    errors: dict[str, list[str]] = {}
    for path, reason in flatten_errors(failure.errors):
        name = field_of(path) or "form"
        line = re.search(r"\[(\d+)\]$", path)
        message = plain(reason)
        if line:
            message = f"Line {int(line[1]) + 1}: {message}"
        errors.setdefault(name, []).append(message)
    return errors


SITE_FORM = {"name", "default_language", "consent_lifetime_months", "refusal_lifetime_months",
             "privacy_policy_url", "workspace"}


def site_field(path: str) -> str | None:
    """The site form's field for a site payload's path."""
    head = re.split(r"[.\[]", path, maxsplit=1)[0]
    if head == "origins":
        return "origins"
    if head == "controller":
        rest = path[len("controller."):]
        return f"controller_{rest}" if rest and path != "controller" else "controller_name"
    return head if head in SITE_FORM else None


def draft_field(path: str) -> str | None:
    """The draft form's field for a draft change's path."""
    parts = path.split(".")
    if parts[0] == "theme" and len(parts) == 2:
        return f"theme-{parts[1]}"
    if parts[0] == "texts" and len(parts) == 3:
        return f"text-{parts[2]}"
    if parts[0] == "region_rules":
        return "region_rules"
    if parts[0] == "google_consent_mode":
        return f"gcm-{parts[1]}" if len(parts) == 2 else "gcm-mode"
    if parts[0].startswith("vendors"):
        return "vendors"
    return None


TCF_LABELS = {"tcf-enabled": "IAB TCF", "vendors": "TCF vendors", "google_atps": "Google ATPs"}


def tcf_setting(form) -> tuple[dict, list[int], dict[str, list[str]]]:
    """The TCF page's form as the draft's tcf setting, the line of the Google ATP list
    each ATP came from, and the lines that are not "id, name, policy URL" (errors by form
    field)."""
    errors: dict[str, list[str]] = {}
    vendors = []
    for value in form.getlist("gvl-vendor"):
        if value.isdigit() and len(value) <= 9:
            vendors.append(int(value))
        else:
            errors["vendors"] = [f"{value[:20]!r} is not a vendor id"]
    atps = []
    lines = form.get("google_atps", "").splitlines()
    if len(lines) > 1000:  # far past the 500 allowed: no need to read each line
        errors["google_atps"] = [f"At most 500 Google ATPs, got {len(lines)} lines."]
        lines = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split(",")]
        if len(parts) < 3 or not parts[0].isdigit() or len(parts[0]) > 9:
            errors.setdefault("google_atps", []).append(
                f"Line {number}: write the provider's id, name and privacy policy address, "
                "separated by commas, like 89, Meta, https://www.facebook.com/privacy/policy")
            continue
        atps.append({"id": int(parts[0]), "name": ", ".join(parts[1:-1]), "policy_url": parts[-1],
                     "line": number})
    setting = {"enabled": form.get("tcf-enabled") == "on", "vendors": vendors,
               "google_atps": [{k: v for k, v in atp.items() if k != "line"} for atp in atps]}
    return setting, [atp["line"] for atp in atps], errors


def tcf_errors(failure: ServiceError, lines: list[int]) -> dict[str, list[str]]:
    """A refused TCF setting's errors beside the page's fields; an ATP's error names the
    line of the list it came from (LINES: each ATP's)."""
    errors: dict[str, list[str]] = {}
    for path, reason in flatten_errors(failure.errors):
        if path.startswith(("google_atps", "tcf.google_atps")):
            match = re.match(r"(?:tcf\.)?google_atps\[(\d+)\](?:\.(\w+))?", path)
            if match:
                index = int(match[1])
                line = lines[index] if index < len(lines) else index + 1
                what = {"id": "id", "name": "name", "policy_url": "policy address"}.get(match[2] or "")
                reason = f"Line {line}{', ' + what if what else ''}: {plain(reason)}"
            errors.setdefault("google_atps", []).append(plain(reason))
        elif path.startswith("tcf.vendors") or path == "vendors":
            errors.setdefault("vendors", []).append(plain(reason))
        elif path.startswith("tcf.enabled") or path.startswith("tcf.cmp_id"):
            errors.setdefault("tcf-enabled", []).append(plain(reason))
        else:
            errors.setdefault("form", []).append(plain(reason))
    return errors


def tcf_values(setting: dict, form=None) -> dict:
    """What the TCF page shows: the draft's setting, or what was typed when it came back."""
    if form is None:
        return {"enabled": bool(setting.get("enabled")), "vendors": set(setting.get("vendors", [])),
                "google_atps": "".join(f"{a['id']}, {a['name']}, {a['policy_url']}\n"
                                       for a in setting.get("google_atps", []))}
    return {"enabled": form.get("tcf-enabled") == "on",
            "vendors": {int(v) for v in form.getlist("gvl-vendor") if v.isdigit() and len(v) <= 9},
            "google_atps": form.get("google_atps", "")}
