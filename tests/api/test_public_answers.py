"""Every answer of the public API is what its OpenAPI document says, member for member:
each real answer is validated against the documented schema (no member missing that is
documented as always there, none that is not documented), so the document and the
output cannot drift apart."""
from __future__ import annotations

import jsonschema
import pytest

from tests.support.http import call

ORIGIN = {"Origin": "https://shop.example"}


def json_schema(node, components):
    """An OpenAPI 3.0 schema as JSON Schema: $refs resolved, "nullable" as a null type."""
    if isinstance(node, list):
        return [json_schema(item, components) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return json_schema(components[node["$ref"].rsplit("/", 1)[1]], components)
    converted = {key: json_schema(value, components) for key, value in node.items()
                 if key != "nullable"}
    if node.get("nullable"):
        converted = {"anyOf": [converted, {"type": "null"}]}
    return converted


@pytest.fixture
def documented(live_server):
    document = call("GET", f"{live_server}/api/openapi.json").json
    components = document["components"]["schemas"]

    def schema(path: str, method: str, status: int):
        answer = document["paths"][path][method]["responses"][str(status)]
        if "$ref" in answer:  # a shared response, such as the 422 of every operation
            answer = document["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
        return json_schema(answer["content"]["application/json"]["schema"], components)
    return schema


def check(answer, schema) -> None:
    jsonschema.validate(answer.json, schema)


def test_the_banner_and_consent_answers_are_as_documented(live_server, shop, documented):
    site, _ = shop
    banner = call("GET", f"{live_server}/api/v1/sites/{site.key}/banner?lang=de")
    assert banner.status == 200
    check(banner, documented("/api/v1/sites/{site_key}/banner", "get", 200))
    assert banner.json["vendors"] and banner.json["purposes"]  # the nested items were checked
    consent = call("POST", f"{live_server}/api/v1/consents", {
        "site": site.key, "config_version": 1, "action": "accept_all", "language": "de"},
        headers=ORIGIN)
    assert consent.status == 201
    check(consent, documented("/api/v1/consents", "post", 201))
    token = consent.json["token"]
    verified = call("POST", f"{live_server}/api/v1/receipts/verify", {"token": token})
    check(verified, documented("/api/v1/receipts/verify", "post", 200))
    current = call("POST", f"{live_server}/api/v1/receipts/current", {"token": token},
                   headers=ORIGIN)
    check(current, documented("/api/v1/receipts/current", "post", 200))


def test_an_undocumented_member_would_be_caught(live_server, shop, documented):
    """The check itself: a banner answer with one member more, or one fewer, fails."""
    site, _ = shop
    banner = call("GET", f"{live_server}/api/v1/sites/{site.key}/banner").json
    schema = documented("/api/v1/sites/{site_key}/banner", "get", 200)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**banner, "extra": 1}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({k: v for k, v in banner.items() if k != "stale"}, schema)


def test_errors_have_the_documented_shape(live_server, shop, documented):
    refused = call("POST", f"{live_server}/api/v1/consents", {"site": "nope"}, headers=ORIGIN)
    assert refused.status == 422
    check(refused, documented("/api/v1/consents", "post", 422))
