"""Consent receipts as Kantara Consent Receipt Specification v1.1 documents.

``render(receipt, notice)`` returns one JSON-compatible dict that validates against
Kantara's published v1.1 JSON schema (tests/data/kantara/). That schema never forbids
additional properties, so the ISO/IEC TS 27560 additions go in the same document under
the key ``"iso27560"``.

Honesty rules for the Kantara part: ``services`` lists only the vendors the visitor
actually consented to (state "given" and the vendor granted), each with only its granted
purposes (consentType "EXPLICIT"), plus the strictly necessary vendors, which run without
consent (consentType "N/A", as in the specification's own example for a non-consent
basis). Refused and withdrawn vendors are left out of ``services`` and appear only in
``iso27560.vendors``, with their status.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

KANTARA_VERSION = "KI-CR-v1.1.0"
WITHDRAWAL_METHOD = (
    "Reopen the privacy settings on the site, or POST /api/v1/consents with action withdraw"
)
COLLECTION_METHODS = {
    "first_layer": "Cookie banner, first layer (accept all / reject all buttons)",
    "settings_layer": "Cookie banner, privacy settings (choices per purpose and vendor)",
    "placeholder": "Click-to-load placeholder of an embedded service (always allow it)",
    "gpc_signal": "Global Privacy Control signal sent by the visitor's browser",
    "api": "Consent API request (POST /api/v1/consents)",
}
# Kantara v1.1 purpose categories ("<number> - <name>"). Numbers 5 and 6 are worded as in the
# specification's example receipt. Numbers 1 and 16 come from an implementation of the
# list (adaptant-labs/consent-receipt-go), since we did not have the specification's
# appendix to check. A site's own purposes outside this table get no category ([]).
PURPOSE_CATEGORIES = {
    "necessary": "1 - Core Function",
    "preferences": "5 - Personalize Experience",
    "analytics": "16 - Improve Performance",
    "marketing": "6 - Marketing",
}
PII_CATEGORIES = ["Online identifiers (cookies and similar browser storage)"]


def render(receipt: dict[str, Any], notice: dict[str, Any]) -> dict[str, Any]:
    """The receipt as a KI-CR-v1.1.0 document, with an ``"iso27560"`` part."""
    purposes = {p["id"]: p for p in notice["purposes"]}
    services = []
    for vendor in notice["vendors"]:
        if _status(vendor, receipt) not in ("given", "not required"):
            continue
        granted = [
            pid for pid in vendor["purposes"]
            if receipt["purposes"].get(pid) or purposes.get(pid, {}).get("required")
        ]
        if granted:
            services.append({
                "service": vendor["name"],
                "purposes": [
                    _purpose(vendor, purposes.get(pid, {"id": pid}), receipt, notice)
                    for pid in granted
                ],
            })
    controller = notice["controller"]
    document = {
        "version": KANTARA_VERSION,
        "jurisdiction": controller["country"],
        "consentTimestamp": _epoch(receipt["issued_at"]),
        "collectionMethod": COLLECTION_METHODS[receipt["collection_method"]],
        "consentReceiptID": receipt["receipt_id"],
        "language": receipt["language"],
        "piiPrincipalId": receipt["subject_id"],
        "piiControllers": [{
            "piiController": controller["name"],
            "onBehalf": False,
            "contact": controller.get("contact") or controller["email"],
            "address": {
                "streetAddress": controller["address"],
                "addressCountry": controller["country"],
            },
            "email": controller["email"],
            "phone": controller.get("phone") or "",  # required by the schema; "" = none given
        }],
        "policyUrl": notice["policy_url"],
        "services": services,
        "sensitive": False,
        "spiCat": [],
    }
    document["iso27560"] = _iso27560(receipt, notice)
    return document


def _status(vendor: dict[str, Any], receipt: dict[str, Any]) -> str:
    """given, refused, withdrawn, or "not required" (strictly necessary vendors)."""
    if vendor["legal_basis"] == "strictly_necessary":
        # Covered by the necessary purpose unless the receipt explicitly excludes it.
        return "not required" if receipt["vendors"].get(vendor["id"], True) else "refused"
    # a vendor runs only with every one of its purposes (receipts recorded before the
    # server enforced this may grant a vendor on one of them: it was never covered)
    if (receipt["state"] == "given" and receipt["vendors"].get(vendor["id"]) is True
            and all(receipt["purposes"].get(p, True) for p in vendor["purposes"])):
        return "given"
    return "withdrawn" if receipt["state"] == "withdrawn" else "refused"


def _retention(vendor: dict[str, Any], receipt: dict[str, Any]) -> int | None:
    if _status(vendor, receipt) not in ("given", "not required"):
        return None
    return receipt.get("vendor_retention_months", {}).get(
        vendor["id"], vendor.get("retention_months")
    )


def _purpose(vendor, purpose, receipt, notice) -> dict[str, Any]:
    exempt = vendor["legal_basis"] == "strictly_necessary"
    months = _retention(vendor, receipt)
    kept = (
        "data is not kept after the session" if months == 0
        else f"data kept by the vendor for up to {months} months" if months
        else "retention as stated in the privacy policy"
    )
    termination = (
        f"No consent required (strictly necessary); {kept}" if exempt
        else f"Consent ends when withdrawn or at expiry on {receipt['expires_at']}; {kept}"
    )
    entry = {
        "purpose": _localized(purpose.get("name", {}), receipt, notice) or purpose["id"],
        "consentType": "N/A" if exempt else "EXPLICIT",
        "purposeCategory": [PURPOSE_CATEGORIES[purpose["id"]]]
        if purpose["id"] in PURPOSE_CATEGORIES else [],
        "piiCategory": list(PII_CATEGORIES),
        "primaryPurpose": bool(purpose.get("required")),
        "termination": termination,
        "thirdPartyDisclosure": not _self_hosted(vendor),
    }
    if entry["thirdPartyDisclosure"]:
        entry["thirdPartyName"] = vendor.get("company", {}).get("name") or vendor["name"]
    return entry


def _iso27560(receipt: dict[str, Any], notice: dict[str, Any]) -> dict[str, Any]:
    return {
        "noticeHash": receipt["config_hash"],
        "noticeVersion": receipt["config_version"],
        "site": receipt["site"],
        "state": receipt["state"],
        "action": receipt["action"],
        "issuedAt": receipt["issued_at"],
        "expiresAt": receipt["expires_at"],
        "previousReceiptId": receipt.get("previous_receipt_id"),
        "gpc": bool(receipt.get("gpc")),
        "region": receipt.get("region"),
        "legalBasis": receipt["legal_basis"],
        "withdrawalMethod": WITHDRAWAL_METHOD,
        "purposes": dict(receipt["purposes"]),
        "vendors": [
            {
                "id": vendor["id"],
                "name": vendor["name"],
                "company": vendor.get("company", {}).get("name"),
                "legalBasis": vendor["legal_basis"],
                "consent": _status(vendor, receipt),
                "retentionMonths": _retention(vendor, receipt),
            }
            for vendor in notice["vendors"]
        ],
        "recordFormat": receipt.get("record_format"),
        # what was signalled to ad tech: IAB TCF's TC (and Google AC) string, decoded; IAB GPP's string
        **({"iabTcf": receipt["tcf"]} if receipt.get("tcf") else {}),
        **({"iabGpp": receipt["gpp"]} if receipt.get("gpp") else {}),
    }


def _localized(texts: dict[str, str], receipt, notice) -> str | None:
    for language in (receipt["language"], notice.get("default_language"), "en"):
        if texts.get(language):
            return texts[language]
    return None


def _self_hosted(vendor: dict[str, Any]) -> bool:
    """Runs on the site's own servers only, so nothing is disclosed to the vendor."""
    return vendor.get("hosting", {}).get("locations") == ["site"]


def _epoch(timestamp: str) -> int:
    moment = datetime.fromisoformat(timestamp)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a UTC offset: {timestamp!r}")
    return int(moment.timestamp())
