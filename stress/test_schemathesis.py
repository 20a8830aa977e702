"""Hostile input: schemathesis over real HTTP against the OpenAPI document, every operation
(public, admin and compliance, the latter two with an admin's API token), in all its
phases, stateful included: no server error, and every answer as the document says."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cmp_server.accounts.tokens import create_token
from cmp_server.platform.extensions import db
from cmp_server.models import Vendor
from cmp_server.consent.receipts import record_consent
from cmp_server.accounts.users import create_user
from cmp_server.sites.vendors import save_custom_vendor
from tests.support.http import call

pytestmark = pytest.mark.stress
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance,response_headers_conformance")


def known_resources(site) -> dict[str, str]:
    """Real values for every path parameter, so operations are exercised past their 404."""
    receipt = record_consent({"site": site.key, "config_version": 1, "action": "accept_all",
                              "language": "sv"}, None, "https://shop.example").receipt
    document = copy.deepcopy(db.session.get(Vendor, "mixpanel").document)
    document.update(id="in-house-analytics", name="In-house analytics")
    save_custom_vendor(document)
    return {"site_key": site.key, "consent_id": receipt["receipt_id"],
            "vendor_id": "in-house-analytics", "workspace_id": 1}


def admin_token() -> str:
    admin = create_user({"email": "fuzz@shop.example", "password": "a long enough password",
                         "operator": True, "role": "admin"})
    return create_token(admin, "schemathesis")[1]


def write_config(folder: Path, parameters: dict[str, str], token: str) -> None:
    lines = [f'headers = {{ Authorization = "Bearer {token}" }}', "", "[parameters]"]
    lines += [f'"path.{name}" = {json.dumps(value)}' for name, value in parameters.items()]
    (folder / "schemathesis.toml").write_text("\n".join(lines) + "\n")


def cases_run(report: Path) -> tuple[dict[str, int], int, int]:
    """From schemathesis's ndjson event log: test cases per operation, stateful test cases,
    and how many of those followed a link from an earlier answer."""
    per_operation: dict[str, int] = {}
    stateful = linked = 0
    for line in report.read_text().splitlines():
        finished = json.loads(line).get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished["recorder"]
        cases = recorder.get("cases", {}).values()
        if finished["phase"] == "stateful":
            stateful += len(cases)
            linked += sum(1 for case in cases if case["is_transition_applied"])
        else:
            label = recorder["label"]
            per_operation[label] = per_operation.get(label, 0) + len(cases)
    return per_operation, stateful, linked


def test_schemathesis_finds_no_error_on_any_operation(app, engine_name, live_server, shop, tmp_path,
                                                      profile, figures):
    site, _ = shop
    app.config["CMP_RATE_LIMIT_PER_MINUTE"] = 0  # one client, many requests: the limit has its own tests
    write_config(tmp_path, known_resources(site), admin_token())
    report = tmp_path / "events.ndjson"
    result = subprocess.run(
        [str(SCHEMATHESIS), "run", f"{live_server}/api/openapi.json", "--checks", CHECKS,
         "--max-examples", str(profile.schemathesis_examples), "--seed", "7",
         "--request-timeout", "30", "--workers", "1", "--phases",
         "examples,coverage,fuzzing,stateful", "--report", "ndjson",
         "--report-ndjson-path", str(report)],
        capture_output=True, text=True, timeout=1800, cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"},
    )
    output = result.stdout
    assert result.returncode == 0, output[-8000:] + result.stderr[-2000:]
    document = json.loads(call("GET", f"{live_server}/api/openapi.json").body)
    operations = {f"{m.upper()} {p}" for p, item in document["paths"].items() for m in item
                  if m != "parameters"}
    per_operation, stateful, linked = cases_run(report)
    assert operations <= {label for label, count in per_operation.items() if count}
    assert linked > 0, "the stateful phase followed no link"
    figures.add("hostile input", f"schemathesis on {engine_name}: every operation, public, "
                "admin and compliance (examples, coverage, fuzzing, stateful)",
                f"{len(operations)} operations, {sum(per_operation.values())} test cases "
                f"+ {stateful} stateful ({linked} following links): 0 server errors, "
                "0 schema violations")
