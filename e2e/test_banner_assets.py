"""The banner bundle as the app serves it: a stable URL revalidated by ETag, a hashed URL
cached for ever, the UI strings per language, the size budget, and a clear error when the
bundle has not been built."""
from __future__ import annotations

import gzip
import json

import pytest

from cmp_server.banner.assets import BANNER_DIR

DIST = BANNER_DIR / "dist"
EU_LANGUAGES = "bg cs da de el en es et fi fr ga hr hu it lt lv mt nl pl pt ro sk sl sv".split()


@pytest.fixture
def manifest():
    return json.loads((DIST / "manifest.json").read_text())


def test_the_stable_url_revalidates_with_an_etag(client, manifest):
    response = client.get("/banner/cmp.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.headers["ETag"] == f'"{manifest["hash"]}"'
    assert response.data == (DIST / "cmp.js").read_bytes()
    again = client.get("/banner/cmp.js", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_the_hashed_url_is_immutable(client, manifest):
    response = client.get(f"/banner/{manifest['file']}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.data == client.get("/banner/cmp.js").data
    missing = client.get("/banner/cmp.0123456789abcdef.js")
    assert missing.status_code == 404
    assert manifest["file"] in missing.json["message"]


def test_the_bundle_is_within_budget_and_has_no_dependencies(manifest):
    script = (DIST / "cmp.js").read_bytes()
    assert len(gzip.compress(script, 9)) <= 8 * 1024
    assert manifest["sizes"]["gzip"] <= manifest["budget_gzip"] == 8 * 1024
    package = json.loads((BANNER_DIR / "package.json").read_text())
    assert "dependencies" not in package  # build tools and the demo's SDK only
    # build tools, the demo's SDK, and the accessibility checker of the console's tests
    assert set(package["devDependencies"]) == {"esbuild", "mixpanel-browser", "axe-core"}
    assert (BANNER_DIR / "package-lock.json").is_file()


def test_ui_strings_exist_in_every_eu_language_and_norwegian(client, manifest):
    english = client.get("/banner/i18n/en.json").json
    for lang in EU_LANGUAGES + ["nb"]:
        response = client.get(f"/banner/i18n/{lang}.json?v={manifest['i18n']}")
        assert response.status_code == 200, lang
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        strings = response.json
        assert set(strings) == set(english), lang
        assert all(isinstance(v, str) and v.strip() for v in strings.values()), lang
    assert client.get("/banner/i18n/de.json").json["reject"] == "Alle ablehnen"
    assert client.get("/banner/i18n/de.json").headers["Cache-Control"] == "public, max-age=300"
    assert client.get("/banner/i18n/xx.json").status_code == 404
    assert client.get("/banner/i18n/..%2fmanifest.json").status_code == 404


def test_a_missing_bundle_is_a_clear_500(client, app, tmp_path):
    app.config["CMP_BANNER_DIST"] = str(tmp_path / "nowhere")
    response = client.get("/banner/cmp.js")
    assert response.status_code == 500
    assert "banner bundle is not built" in response.json["message"]
    assert "make setup" in response.json["message"]
