"""The banner bundle as the app serves it: a stable URL revalidated by ETag, a hashed URL
cached for ever, every string in each configuration, the size budget, and a clear error when the
bundle has not been built."""
from __future__ import annotations

import gzip
import json

import pytest

from cmp_server.banner.assets import BANNER_DIR
from cmp_server.banner.strings import BANNER_LANGUAGES
from cmp_server.sites import versions

DIST = BANNER_DIR / "dist"



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
    assert len(gzip.compress(script, 9)) <= 6 * 1024
    assert manifest["sizes"]["gzip"] <= manifest["budget_gzip"] == 6 * 1024
    package = json.loads((BANNER_DIR / "package.json").read_text())
    # IAB's own libraries, in the TCF and GPP modules only: never in the core tag
    assert set(package["dependencies"]) == {"@iabtcf/core", "@iabtcf/cmpapi", "@iabgpp/cmpapi"}
    assert b"__tcfapi" not in script and b"__gpp" not in script
    for name in ("tcf", "gpp"):
        module = (DIST / "m" / manifest["modules"][name]["file"]).read_bytes()
        assert f"__{'tcfapi' if name == 'tcf' else 'gpp'}Locator".encode() in module
    # build tools, the demo's SDK, the accessibility checker of the tests, and CookieConsent v3
    # (bench.banner measures it beside ours)
    assert set(package["devDependencies"]) == {"esbuild", "mixpanel-browser", "axe-core",
                                               "vanilla-cookieconsent"}
    assert (BANNER_DIR / "package-lock.json").is_file()


def test_each_configuration_carries_every_string_in_one_language(client, shop):
    """The tag carries no texts: each configuration has all of them, in the language the
    page asked for (or the browser's, or the site's default), with the site's rewrites."""
    site, _ = shop
    site.draft.texts = {"de": {"title": "Ihre Wahl bei Shop AB"}}
    versions.publish(site)
    english = client.get(f"/api/v1/sites/{site.key}/banner?lang=en").json["strings"]
    for lang in BANNER_LANGUAGES:
        config = client.get(f"/api/v1/sites/{site.key}/banner?lang={lang}").json
        assert config["language"] == lang
        assert set(config["strings"]) == set(english), lang
        assert all(isinstance(v, str) and v.strip() for v in config["strings"].values()), lang
    german = client.get(f"/api/v1/sites/{site.key}/banner?lang=de").json
    assert german["strings"]["reject"] == "Alle ablehnen"
    assert german["strings"]["title"] == german["texts"]["title"] == "Ihre Wahl bei Shop AB"
    french = client.get(f"/api/v1/sites/{site.key}/banner?lang=fr").json
    assert french["texts"] == {} and french["strings"]["title"] == "Vos choix de confidentialité"
    browser = client.get(f"/api/v1/sites/{site.key}/banner?lang=sw",
                         headers={"Accept-Language": "sw, fr;q=0.8"}).json
    assert browser["language"] == "fr"
    assert client.get("/banner/i18n/en.json").status_code == 404  # no separate strings


def test_modules_are_named_by_the_configuration_and_cached_for_ever(client, shop, manifest):
    site, _ = shop
    path = client.get(f"/api/v1/sites/{site.key}/banner").json["modules"]["embeds"]
    assert path == f"/banner/m/{manifest['modules']['embeds']['file']}"
    module = client.get(path)
    assert module.status_code == 200 and module.mimetype == "text/javascript"
    assert module.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert module.data == (DIST / "m" / manifest["modules"]["embeds"]["file"]).read_bytes()
    for missing in ("embeds.0123456789abcdef.js", "embeds.js", "..%2fmanifest.json"):
        assert client.get(f"/banner/m/{missing}").status_code == 404
    gone = client.get("/banner/m/embeds.0123456789abcdef.js").json["message"]
    assert manifest["modules"]["embeds"]["file"] in gone  # says which one is current


def test_a_missing_bundle_is_a_clear_500(client, app, tmp_path):
    app.config["CMP_BANNER_DIST"] = str(tmp_path / "nowhere")
    response = client.get("/banner/cmp.js")
    assert response.status_code == 500
    assert "banner bundle is not built" in response.json["message"]
    assert "make setup" in response.json["message"]
