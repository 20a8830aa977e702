"""The compliance API: proof bundles and subject look-ups, for the compliance role (or
admin), with an API token or a console session."""
from __future__ import annotations

from datetime import date, datetime, timezone

from flask_smorest import Blueprint
from marshmallow import fields

from cmp_server.accounts import auth
from cmp_server.consent import proof
from cmp_server.sites import registry
from cmp_server.api.docs import PRIVATE
from cmp_server.console.views import export_response
from cmp_server.models import Role
from cmp_server.platform.schemas import StrictSchema

blp = Blueprint("compliance_api", __name__, url_prefix="/api/v1/compliance",
                description="Proof for auditors and data-subject look-ups (compliance role).")
COMPLIANCE = Role.COMPLIANCE.value


class ExportQuery(StrictSchema):
    start = fields.Date(required=True, data_key="from")
    end = fields.Date(required=True, data_key="to")


class SubjectAnswer(StrictSchema):
    site = fields.String()
    subject_id = fields.String()
    records = fields.List(fields.Dict())


def _day(value: date) -> datetime:
    return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)


@blp.route("/sites/<site_key>/export")
@auth.api_for(COMPLIANCE)  # before the arguments: an anonymous caller learns nothing more
@blp.doc(security=PRIVATE)
@blp.arguments(ExportQuery(), location="query")
@blp.alt_response(200, description="The proof bundle (zip); check it with "
                                   "python -m consent_logs verify FILE.")
@blp.alt_response(401, description="No session or API token.")
@blp.alt_response(403, description="Not the compliance or admin role.")
@blp.alt_response(404, description="Unknown site, or another workspace's.")
@blp.alt_response(422, description="Bad dates, or nothing published yet.")
def export(query, site_key: str):
    """Stream the site's proof bundle for records issued in [from, to)."""
    site = registry.get_site(site_key, auth.current_user(), (COMPLIANCE,))
    return export_response(site.key, _day(query["start"]), _day(query["end"]))


@blp.route("/consents/<consent_id>")
@auth.api_for(COMPLIANCE)
@blp.doc(security=PRIVATE)
@blp.response(200, SubjectAnswer)
@blp.alt_response(401, description="No session or API token.")
@blp.alt_response(403, description="Not the compliance or admin role.")
@blp.alt_response(422, description="No record with this consent id (in your workspaces).")
def consent_history(consent_id: str):
    """Every record of the visitor behind a consent id (the id the banner shows them)."""
    return proof.subject_history(consent_id, auth.current_user())
