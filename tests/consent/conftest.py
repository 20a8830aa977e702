"""Fixtures of the consent tests."""
from __future__ import annotations

import pytest

from tests.support.gvl import gvl_document

TCF_CMP_ID = 300
TCF_VENDORS = [1, 2, 8]
TCF_ATPS = [{"id": 89, "name": "Example ATP", "policy_url": "https://atp.example/privacy"}]


@pytest.fixture
def tcf_shop(app, shop):
    from cmp_server.sites import gvl, versions

    site, _ = shop
    document = gvl_document(version=5, vendors=[1, 2, 8, 10])
    gvl.store_gvl(document, {})
    app.config["CMP_TCF_CMP_ID"] = TCF_CMP_ID
    versions.update_draft(site, {"tcf": {"enabled": True, "vendors": TCF_VENDORS, "google_atps": TCF_ATPS}})
    version, _ = versions.publish(site)
    return site, version, version.content["tcf"]["gvl"]
