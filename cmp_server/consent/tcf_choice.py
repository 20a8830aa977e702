"""The TC string (and Google's Additional Consent string) a TCF site's banner sends with a
choice: checked against the version the visitor was shown and decoded into the receipt's
``tcf`` field, so the proof holds exactly what was signalled to the ad tech and what it
meant. ``python -m consent_logs verify`` decodes each stored string again and compares.

Honest by construction: the string must disclose exactly the version's TCF vendors (TCF
v2.3's mandatory disclosed-vendors segment), come from the operator's CMP id and the
version's GVL, and a refusal (Reject all, a withdrawal) signals no consent, no legitimate
interest and no special feature at all."""
from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from consent_logs.tcstring import TCStringError, receipt_fields
from cmp_server.platform.errors import ServiceError
from cmp_server.platform.schemas import StrictSchema

TC_STRING = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){0,3}$"
AC_STRING = r"^2~[0-9.]*~dv\.[0-9.]*$"
REFUSALS = ("reject_all", "withdraw")


class TcfSchema(StrictSchema):
    """The ``tcf`` member of POST /api/v1/consents."""

    tc_string = fields.String(required=True, validate=[
        validate.Length(max=8192),
        validate.Regexp(TC_STRING, error="must be a TC string: base64url segments joined by dots")])
    ac_string = fields.String(allow_none=True, load_default=None, validate=[
        validate.Length(max=16384),
        validate.Regexp(AC_STRING, error="must be an Additional Consent string of version 2: 2~ids~dv.ids")])


def tcf_record(sent: dict[str, Any] | None, action: str, content: dict[str, Any],
               mode: str, from_browser: bool) -> dict[str, Any] | None:
    """The receipt's ``tcf`` field for this choice, or None when TCF does not apply.
    A browser on a TCF site whose visitor is asked first must send the strings."""
    tcf = content.get("tcf")
    if sent is None:
        if tcf and mode == "opt-in" and from_browser and action != "gpc":
            raise ServiceError({"tcf": ["required: this site uses IAB TCF, and the choice must "
                                        "carry the TC string the banner signalled"]})
        return None
    if not tcf:
        raise ServiceError({"tcf": ["this version of the site does not use IAB TCF"]})
    try:
        record = receipt_fields(sent["tc_string"], sent["ac_string"])
    except TCStringError as error:
        raise ServiceError({"tcf": [str(error)]}) from None
    errors = disagreements(record, tcf, action)
    if errors:
        raise ServiceError({f"tcf.{field}": [why] for field, why in errors.items()})
    return record


def disagreements(record: dict[str, Any], tcf: dict[str, Any], action: str) -> dict[str, str]:
    """Where the decoded strings disagree with the version or the action, field by field."""
    gvl = tcf["gvl"]
    vendors = sorted(int(v) for v in gvl["vendors"])
    atps = sorted(a["id"] for a in tcf["google_atps"])
    expected = {
        "cmp_id": tcf["cmp_id"], "cmp_version": tcf["cmp_version"],
        "vendor_list_version": gvl["vendorListVersion"], "policy_version": gvl["tcfPolicyVersion"],
        "vendors_disclosed": vendors,
    }
    errors = {field: f"is {record[field]!r}; this version signals {value!r}"
              for field, value in expected.items() if record[field] != value}
    for field in ("vendors_consent", "vendors_li"):
        if stray := sorted(set(record[field]) - set(vendors)):
            errors[field] = f"names vendors this version does not disclose: {stray}"
    if 1 in record["purposes_li"]:
        errors["purposes_li"] = "purpose 1 can never rest on legitimate interest"
    shown_atps = sorted(record["ac_consent"] + record["ac_disclosed"]) if record["ac_string"] else []
    if shown_atps != atps:
        errors["ac_string"] = f"discloses Google providers {shown_atps}; this version lists {atps}"
    if action in REFUSALS:
        for field in ("purposes_consent", "purposes_li", "special_features",
                      "vendors_consent", "vendors_li", "ac_consent"):
            if record[field]:
                errors[field] = f"must be empty for {action}: a refusal signals nothing"
    return errors


def grants_anything(record: dict[str, Any] | None) -> bool:
    """Whether the strings signal any consent (the receipt's state is then given)."""
    return bool(record and (record["purposes_consent"] or record["vendors_consent"]
                            or record["special_features"] or record["ac_consent"]))
