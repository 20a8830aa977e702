"""The GPP string (IAB's Global Privacy Platform) a US visitor's banner sends with a choice,
for a site whose region rules name US regions or that signals IAB TCF: kept in the receipt as signalled, with the
sections it carries, so the proof shows what ad tech was told. An opt-out (Reject all, the
"Do not sell or share" link, GPC) carries one. The string is checked for its form
here; its TCF EU section, where there is one, is the TC string the receipt's tcf keeps."""
from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from cmp_server.banner.document import GPP_STATE_SECTIONS, uses_gpp
from cmp_server.platform.errors import ServiceError
from cmp_server.platform.geo import Region
from cmp_server.platform.schemas import StrictSchema

GPP_STRING = r"^D[A-Za-z0-9_-]+(~[A-Za-z0-9_.-]*)*$"  # header (base64url, starts "DB"), then sections
US_SECTIONS = ("usnat", *GPP_STATE_SECTIONS.values())


class GppSchema(StrictSchema):
    """The ``gpp`` member of POST /api/v1/consents."""

    gpp_string = fields.String(required=True, validate=[
        validate.Length(max=8192),
        validate.Regexp(GPP_STRING, error="must be a GPP string: a header and sections joined by ~")])
    sections = fields.List(fields.String(validate=validate.OneOf(US_SECTIONS)), required=True,
                           validate=validate.Length(min=1, max=len(US_SECTIONS)))


def gpp_record(sent: dict[str, Any] | None, content: dict[str, Any],
               region: Region | None) -> dict[str, Any] | None:
    """The receipt's ``gpp`` field, or None when nothing was signalled (no US section, or
    the GPP module could not load: the choice is recorded all the same)."""
    if sent is None:
        return None
    in_us = bool(region and region.country == "US")
    if not uses_gpp(content):
        raise ServiceError({"gpp": ["this version of the site does not use IAB GPP "
                                    "(no US region rules, no IAB TCF)"]})
    if not in_us:
        raise ServiceError({"gpp": ["a GPP US string is for visitors in the US"]})
    return {"gpp_string": sent["gpp_string"], "sections": sorted(set(sent["sections"]))}
