"""The API is described by an OpenAPI document with an explorer, and schemathesis,
fuzzing every endpoint of that document over real HTTP, finds no server error."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.http import call

ENDPOINTS = {
    ("/api/v1/sites/{site_key}/banner", "get"),
    ("/api/v1/consents", "post"),
    ("/api/v1/receipts/verify", "post"),
}


def test_the_openapi_document_lists_every_public_endpoint(live_server):
    document = call("GET", f"{live_server}/api/openapi.json").json
    assert document["openapi"].startswith("3.")
    operations = {(path, method) for path, item in document["paths"].items() for method in item}
    assert ENDPOINTS <= operations
    consent = document["components"]["schemas"]["Consent"]
    assert set(consent["required"]) == {"site", "config_version", "action", "language"}
    assert consent["additionalProperties"] is False


def test_private_operations_declare_their_token_so_the_explorer_can_authorize(live_server):
    document = call("GET", f"{live_server}/api/openapi.json").json
    schemes = document["components"]["securitySchemes"]
    assert schemes["apiToken"] == {**schemes["apiToken"], "type": "http", "scheme": "bearer"}
    private = [(path, method, operation.get("security"))
               for path, item in document["paths"].items() for method, operation in item.items()
               if path.startswith(("/api/v1/admin/", "/api/v1/compliance/"))
               and method in ("get", "post", "put", "patch", "delete")]
    assert len(private) >= 15
    assert all(security == [{"apiToken": []}] for _, _, security in private), private
    public = document["paths"]["/api/v1/receipts/verify"]["post"]
    assert "security" not in public


def test_the_explorer_is_served_without_third_party_hosts(live_server):
    page = call("GET", f"{live_server}/api/docs").body.decode()
    assert "/api/docs/assets/swagger-ui-bundle.js" in page
    assert "https://" not in page.split("<body>", 1)[1]
    bundle = call("GET", f"{live_server}/api/docs/assets/swagger-ui-bundle.js")
    assert bundle.status == 200 and len(bundle.body) > 100_000


def test_schemathesis_finds_no_server_error(live_server, shop, tmp_path):
    site, _ = shop
    # a real site key, so the banner endpoint is exercised beyond its 404
    (tmp_path / "schemathesis.toml").write_text(f'[parameters]\n"path.site_key" = "{site.key}"\n')
    executable = Path(os.sys.executable).with_name("schemathesis")
    result = subprocess.run(
        [str(executable), "run", f"{live_server}/api/openapi.json",
         "--checks", "not_a_server_error,status_code_conformance",
         "--max-examples", "40", "--seed", "1", "--request-timeout", "10",
         "--phases", "examples,coverage,fuzzing"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"},
    )
    print(result.stdout[-3000:])
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout or "passed" in result.stdout
