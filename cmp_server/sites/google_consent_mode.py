"""Google Consent Mode v2 for a site: basic or advanced, and what the banner tells gtag.

- basic (the default): Google's tags are held back like any other until the visitor
  grants their vendor; they then load with the signals the choice gives.
- advanced: the tags of the vendors that honour Consent Mode (the catalogue's
  consent_signals) load at once, with every signal denied, and send Google cookieless
  pings until the visitor chooses; the banner does not hold them back.

Either way the tag sets the defaults before any Google tag runs (denied, security storage
granted, wait_for_update 500 ms), then the site's region defaults: granted where the
site's region rules ask nobody first (opt-out or none). It sets ads_data_redaction and
url_passthrough when the site turns them on, and updates the signals on every choice.
The signals come from purposes as SIGNAL_PURPOSES says (the console's draft shows it)."""
from __future__ import annotations

from typing import Any

from cmp_server.platform.geo import OPT_IN_REGIONS

MODES = {"basic": "Basic: Google's tags wait for consent",
         "advanced": "Advanced: Google's tags load at once, with every signal denied "
                     "until the visitor chooses"}
DEFAULTS = {"mode": "basic", "ads_data_redaction": False, "url_passthrough": False}
SIGNAL_PURPOSES = {  # each signal and the purpose that grants it (static/banner consent-mode.js)
    "ad_storage": "marketing", "ad_user_data": "marketing", "ad_personalization": "marketing",
    "analytics_storage": "analytics", "functionality_storage": "preferences",
    "personalization_storage": "preferences", "security_storage": "necessary",
}
SIGNAL = "google_consent_mode"  # a catalogue vendor's consent_signals entry


def check(setting: Any) -> dict[str, list[str]]:
    """Errors by ``google_consent_mode.<field>``."""
    if not isinstance(setting, dict):
        return {"google_consent_mode": ["must be an object: {mode, ads_data_redaction, "
                                        "url_passthrough}"]}
    errors: dict[str, list[str]] = {}
    for key, value in setting.items():
        if key == "mode":
            if not isinstance(value, str) or value not in MODES:
                errors["google_consent_mode.mode"] = [f"must be one of: {', '.join(MODES)}"]
        elif key in DEFAULTS:
            if not isinstance(value, bool):
                errors[f"google_consent_mode.{key}"] = ["must be true or false"]
        else:
            errors[f"google_consent_mode.{key}"] = [
                f"unknown setting; use one of {', '.join(DEFAULTS)}"]
    return errors


def granted_regions(region_rules: dict[str, str]) -> list[str]:
    """The regions whose visitors nobody asks first (their rule is opt-out or none), as
    gtag's region parameter names them; never one of the always opt-in regions, nor a
    country with an opt-in subdivision (gtag would grant that subdivision by the
    country's default; its granted subdivisions are listed one by one instead)."""
    asked = {region.split("-")[0] for region, mode in region_rules.items() if "-" in region
             and mode not in ("opt-out", "none")}
    return sorted(region for region, mode in region_rules.items()
                  if region != "default" and mode in ("opt-out", "none")
                  and region.split("-")[0] not in OPT_IN_REGIONS
                  and not ("-" not in region and region in asked))


def for_banner(content: dict[str, Any]) -> dict[str, Any]:
    """What the tag needs: the site's setting, the region defaults, and which of the
    site's vendors honour Consent Mode (an advanced site's banner does not hold them)."""
    setting = {**DEFAULTS, **content.get("google_consent_mode", {})}
    return {
        **setting,
        "granted_regions": granted_regions(content.get("region_rules") or {}),
        "vendors": [v["id"] for v in content["vendors"] if SIGNAL in v.get("consent_signals", [])],
    }
