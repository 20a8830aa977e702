"""The TC string (and Google's Additional Consent string) a TCF site's banner sends with a
choice: checked against the version the visitor was shown and decoded into the receipt's
``tcf`` field, so the proof holds exactly what was signalled to the ad tech and what it
meant. ``python -m consent_logs verify`` decodes each stored string again and compares.

A string is kept only if the banner of that version could have signalled it: the
operator's CMP id and the version's GVL, exactly the version's TCF vendors disclosed (TCF
v2.3's mandatory segment), only purposes, special features and vendors the layers offer
(legitimate interest never for purposes 1 and 3 to 6), the flags the banner sets, no
segment it never sends; and a refusal (Reject all, withdrawal, GPC) signals no consent and
no legitimate interest but that of partners with special purposes only, which cannot be
objected to. A choice without the strings (the TCF module could not load) is recorded
without them: nothing was signalled to TCF's vendors then."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

from marshmallow import fields, validate

from consent_logs.tcstring import TCStringError, decode, receipt_fields
from cmp_server.platform.errors import ServiceError
from cmp_server.platform.schemas import StrictSchema

TC_STRING = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){0,3}$"
AC_ID = r"[1-9][0-9]{0,8}"
AC_STRING = rf"^2~({AC_ID}(\.{AC_ID})*)?~dv\.({AC_ID}(\.{AC_ID})*)?$"
REFUSALS = ("reject_all", "withdraw", "gpc")
NEVER_LEGITIMATE_INTEREST = {1, 3, 4, 5, 6}  # TCF policy since v2.2
CLOCK_SKEW = timedelta(days=1)  # how far ahead of the server a browser's clock may run
DAYS_PER_MONTH = 30.44


class TcfSchema(StrictSchema):
    """The ``tcf`` member of POST /api/v1/consents."""

    tc_string = fields.String(required=True, validate=[
        validate.Length(max=8192),
        validate.Regexp(TC_STRING, error="must be a TC string: base64url segments joined by dots")])
    ac_string = fields.String(allow_none=True, load_default=None, validate=[
        validate.Length(max=16384),
        validate.Regexp(AC_STRING, error="must be an Additional Consent string of version 2: 2~ids~dv.ids")])


def tcf_record(sent: dict[str, Any] | None, action: str, content: dict[str, Any],
               language: str) -> dict[str, Any] | None:
    """The receipt's ``tcf`` field for this choice, or None when nothing was signalled."""
    if sent is None:
        return None
    tcf = content.get("tcf")
    if not tcf:
        raise ServiceError({"tcf": ["this version of the site does not use IAB TCF"]})
    try:
        flags = decode(sent["tc_string"])
        record = receipt_fields(sent["tc_string"], sent["ac_string"], flags)
    except TCStringError as error:
        raise ServiceError({"tcf": [str(error)]}) from None
    errors = disagreements(record, tcf, action) | flag_errors(flags, content, language)
    if errors:
        raise ServiceError({f"tcf.{field}": [why] for field, why in errors.items()})
    return record


def offered(tcf: dict[str, Any]) -> dict[str, set[int]]:
    """What the version's layers offer (static/banner/src/modules/tcf.js does the same):
    the purposes, special features, vendors with a consent switch, vendors with legitimate
    interest (those with special purposes only have it whatever the visitor says)."""
    vendors = tcf["gvl"]["vendors"].values()
    union = lambda field: {p for v in vendors for p in v.get(field, [])}  # noqa: E731
    special_only = {v["id"] for v in vendors if not v["purposes"] and not v["legIntPurposes"]
                    and v["specialPurposes"]}
    return {
        "purposes_consent": union("purposes") | union("flexiblePurposes"),
        "purposes_li": (union("legIntPurposes") | union("flexiblePurposes")) - NEVER_LEGITIMATE_INTEREST,
        "special_features": union("specialFeatures"),
        "vendors_consent": {v["id"] for v in vendors if v["purposes"] or v["flexiblePurposes"]},
        "vendors_li": {v["id"] for v in vendors if v["legIntPurposes"]} | special_only,
        "unobjectable": special_only,
    }


def disagreements(record: dict[str, Any], tcf: dict[str, Any], action: str) -> dict[str, str]:
    """Where the decoded strings disagree with the version or the action, field by field."""
    gvl = tcf["gvl"]
    atps = sorted(a["id"] for a in tcf["google_atps"])
    expected = {
        "cmp_id": tcf["cmp_id"], "cmp_version": tcf["cmp_version"],
        "vendor_list_version": gvl["vendorListVersion"], "policy_version": gvl["tcfPolicyVersion"],
        "vendors_disclosed": sorted(int(v) for v in gvl["vendors"]),
    }
    errors = {field: f"is {record[field]!r}; this version signals {value!r}"
              for field, value in expected.items() if record[field] != value}
    can = offered(tcf)
    for field in ("purposes_consent", "purposes_li", "special_features", "vendors_consent", "vendors_li"):
        if stray := sorted(set(record[field]) - can[field]):
            errors[field] = f"names {stray}, which this version's banner never offers there"
    shown_atps = sorted(record["ac_consent"] + record["ac_disclosed"]) if record["ac_string"] else []
    if record["ac_string"] is not None and shown_atps != atps:
        errors["ac_string"] = f"discloses Google providers {shown_atps}; this version lists {atps}"
    if action in REFUSALS:
        for field in ("purposes_consent", "purposes_li", "special_features", "vendors_consent",
                      "vendors_li", "ac_consent"):
            allowed = can["unobjectable"] if field == "vendors_li" else set()
            if set(record[field]) - allowed:
                errors[field] = f"must be empty for {action}: a refusal signals nothing"
    return errors


def flag_errors(tc, content: dict[str, Any], language: str) -> dict[str, str]:
    """The fields the banner always sets the same way, and the segments it never sends."""
    country = ((content.get("controller") or {}).get("country") or "AA").upper()
    expected = {"is_service_specific": True, "use_non_standard_texts": False,
                "purpose_one_treatment": False, "publisher_cc": country,
                "consent_language": language.split("-")[0].upper()}
    errors = {field: f"is {getattr(tc, field)!r}; the banner signals {value!r}"
              for field, value in expected.items() if getattr(tc, field) != value}
    for field in ("publisher_restrictions", "allowed_vendors", "publisher_tc"):
        if getattr(tc, field):
            errors[field] = "the banner never sends it"
    if tc.created > datetime.now(timezone.utc) + CLOCK_SKEW:
        errors["created"] = f"{tc.created.isoformat()} is in the future"
    return errors


def retention_months(record: dict[str, Any] | None, tcf: dict[str, Any] | None) -> dict[str, int]:
    """The longest retention (months, rounded up) of each TCF vendor the strings let
    process data, as "tcf:<id>": the record must outlive the data it justifies."""
    if not record or not tcf:
        return {}
    vendors = tcf["gvl"]["vendors"]
    months = {}
    for vendor_id in sorted(set(record["vendors_consent"]) | set(record["vendors_li"])):
        retention = vendors[str(vendor_id)].get("dataRetention") or {}
        days = [retention.get("stdRetention") or 0,
                *(retention.get("purposes") or {}).values(),
                *(retention.get("specialPurposes") or {}).values()]
        months[f"tcf:{vendor_id}"] = math.ceil(max(days) / DAYS_PER_MONTH)
    return months


def grants_anything(record: dict[str, Any] | None) -> bool:
    """Whether the strings signal any consent (the receipt's state is then given)."""
    return bool(record and (record["purposes_consent"] or record["vendors_consent"]
                            or record["special_features"] or record["ac_consent"]))
