"""The cookie declaration: the page and the embeddable fragment, generated from the newest
published configuration of the `shop` site (Craft CMS, Google Analytics, Mixpanel,
Piwik PRO on its Enterprise tier, Facebook)."""
from __future__ import annotations

import re
from datetime import timezone
from html.parser import HTMLParser

import pytest

from cmp_server.sites import versions
from cmp_server.sites.declaration import LABELS, lifetime_words
from cmp_server.platform.extensions import db
from cmp_server.models import Vendor
from cmp_server.sites.registry import create_site
from tests.conftest import SHOP

FORBIDDEN_TAGS = {"html", "head", "body", "script", "style", "link", "meta", "img", "iframe",
                  "object", "embed", "form", "input", "svg", "video", "audio", "base"}


class Declaration(HTMLParser):
    """The parts of a rendered declaration the tests look at."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.purposes: dict[str, list[str]] = {}  # purpose id -> vendor ids, in order
        self.references: dict[str, list[str]] = {}  # purpose id -> vendors described elsewhere
        self.vendors: dict[tuple[str, str], dict] = {}  # (purpose, vendor) -> text, cookies
        self.headings: list[str] = []
        self._purpose = self._vendor = self._row = self._cell = self._heading = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "section" and (attributes.get("id") or "").startswith("cmp-decl-purpose-"):
            self._purpose = attributes["id"].removeprefix("cmp-decl-purpose-")
            self.purposes[self._purpose] = []
            self.references[self._purpose] = []
        elif tag == "article" and "data-cmp-decl-vendor-ref" in attributes:
            self.references[self._purpose].append(attributes["data-cmp-decl-vendor-ref"])
        elif tag == "article" and "data-cmp-decl-vendor" in attributes:
            vendor = attributes["data-cmp-decl-vendor"]
            self.purposes[self._purpose].append(vendor)
            self._vendor = self.vendors[(self._purpose, vendor)] = {"text": "", "cookies": []}
        elif tag == "tr" and self._vendor is not None and "cmp-decl-cookie" in (
                attributes.get("class") or ""):
            self._row = []
            self._vendor["cookies"].append(self._row)
        elif tag == "td" and self._row is not None:
            self._cell = ""
        elif re.fullmatch(r"h[1-6]", tag):
            self._heading = ""

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr":
            self._row = None
        elif tag == "article":
            self._vendor = None
        elif re.fullmatch(r"h[1-6]", tag) and self._heading is not None:
            self.headings.append(self._heading.strip())
            self._heading = None

    def handle_data(self, data):
        if self._vendor is not None:
            self._vendor["text"] += data
        if self._cell is not None:
            self._cell += data
        if self._heading is not None:
            self._heading += data

    def cookies(self, purpose: str, vendor: str) -> dict[str, list[str]]:
        """Cookie rows by 'name storage', each as [name, storage, domain, lifetime, text]."""
        return {f"{row[0]} {row[1]}": row for row in self.vendors[(purpose, vendor)]["cookies"]}

    def text(self, purpose: str, vendor: str) -> str:
        return " ".join(self.vendors[(purpose, vendor)]["text"].split())


def get(client, site_key: str, suffix: str = "", **headers):
    return client.get(f"/sites/{site_key}/cookies{suffix}", headers=headers)


def parsed(response) -> Declaration:
    assert response.status_code == 200, response.data
    return Declaration(response.get_data(as_text=True))


# --- content ------------------------------------------------------------------------------

def test_page_lists_each_vendor_under_its_purposes_with_cookies(client, shop):
    site, version = shop
    response = get(client, site.key, "?lang=en")
    assert response.mimetype == "text/html" and response.headers["Content-Language"] == "en"
    page = parsed(response)
    # purposes in version order, the banner's own cookie first; a vendor with two purposes
    # (Piwik PRO) is described once, under the first, and named under the other
    assert page.purposes == {
        "necessary": ["cmp", "craft-cms"],
        "analytics": ["google-analytics", "mixpanel", "piwik-pro"],
        "marketing": ["facebook"],
    }
    assert page.references == {"necessary": [], "analytics": [], "marketing": ["piwik-pro"]}
    assert page.headings[:5] == ["Cookie declaration", "Strictly necessary", "Consent banner",
                                 "Craft CMS", "Analytics"]
    own = page.cookies("necessary", "cmp")
    assert own["cmp_consent Cookie"][2:4] == ["this website (first party)", "12 months"]
    assert own["cmp_pending localStorage"][3] == "Persistent (until cleared)"
    ga = page.cookies("analytics", "google-analytics")
    assert ga["_ga Cookie"][2:4] == ["this website (first party)", "2 years"]
    assert ga["_ga_* Cookie"][3] == "2 years"
    piwik = page.cookies("analytics", "piwik-pro")
    assert piwik["_pk_id.* Cookie"][3] == "13 months"
    assert piwik["_pk_ses.* Cookie"][3] == "1 day"
    assert piwik["_pk_ref.* Cookie"][3] == "6 months"
    assert piwik["ppms_webstorage localStorage"][3] == "Persistent (until cleared)"
    craft = page.cookies("necessary", "craft-cms")
    assert craft["CraftSessionId Cookie"][3] == "Session (until the browser closes)"
    facebook = page.cookies("marketing", "facebook")
    assert facebook["_fbp Cookie"][3] == "3 months"
    assert facebook["fr Cookie"][2] == ".facebook.com (third party)"
    assert "localStorage" in page.cookies("analytics", "mixpanel")["mp_*_mixpanel localStorage"]
    # it needs both: its entry says so, and Marketing's section names it and links there
    assert "Used only if you also consent to Marketing" in page.text("analytics", "piwik-pro")
    html = response.get_data(as_text=True)
    assert 'Described in full under <a class="cmp-decl-link" href="#cmp-decl-analytics-piwik-pro">' \
        'Analytics</a>' in html


def test_retention_hosting_transfers_and_legal_basis(client, shop):
    site, _ = shop
    page = parsed(get(client, site.key, "?lang=en"))
    piwik = page.text("analytics", "piwik-pro")
    assert "Data retention 25 months (Enterprise plan)" in piwik
    assert "Data stored in Germany" in piwik
    assert "Transfers outside the EU/EEA No" in piwik
    assert "Provided by Piwik PRO SA (Poland)" in piwik
    ga = page.text("analytics", "google-analytics")
    assert "Transfers outside the EU/EEA Yes (United States)" in ga
    assert ("Safeguards: EU-US Data Privacy Framework (Google LLC); "
            "Standard Contractual Clauses") in ga
    assert "Data retention 14 months" in ga
    assert "https://policies.google.com/privacy" in ga
    assert "Your consent (GDPR Art. 6(1)(a))" in ga
    craft = page.text("necessary", "craft-cms")
    assert ("Legal basis Strictly necessary: exempt from consent under ePrivacy Directive "
            "Art. 5(3)") in craft
    assert "GDPR Art. 6(1)(a)" not in craft
    assert "Data stored in this website's own servers" in craft
    assert "Data retention Not kept beyond the session" in craft


def test_controller_policy_link_version_and_date(client, shop):
    site, version = shop
    response = get(client, site.key, "?lang=en")
    html = response.get_data(as_text=True)
    assert "Shop AB, Storgatan 1, Stockholm, Sweden" in html
    assert 'href="mailto:privacy@shop.example"' in html
    assert 'href="https://shop.example/privacy"' in html
    published = version.published_at
    if published.tzinfo is not None:
        published = published.astimezone(timezone.utc)
    assert f'datetime="{published.date().isoformat()}"' in html
    assert f"Last updated {published.day} {published:%B} {published.year} (version 1)" in html


@pytest.mark.parametrize("query,accept,language,title,necessary", [
    ("?lang=sv", None, "sv", "Cookieförklaring", "Nödvändiga"),
    ("", "nb-NO,nb;q=0.9,en;q=0.5", "nb", "Erklæring om informasjonskapsler",
     "Strengt nødvendige"),
    ("", "no", "nb", "Erklæring om informasjonskapsler", "Strengt nødvendige"),
    ("?lang=de", "nb-NO", "de", "Cookie-Erklärung", "Unbedingt erforderlich"),
    ("?lang=nl-BE", None, "nl", "Cookieverklaring", "Strikt noodzakelijk"),
    ("", "fr-FR", "en", "Cookie declaration", "Strictly necessary"),  # the site's default
])
def test_language_negotiation(client, shop, query, accept, language, title, necessary):
    site, _ = shop
    headers = {"Accept-Language": accept} if accept else {}
    response = get(client, site.key, query, **headers)
    page = parsed(response)
    assert response.headers["Content-Language"] == language
    assert f'<html lang="{language}">' in response.get_data(as_text=True)
    assert page.headings[:2] == [title, necessary]


def test_swedish_and_norwegian_labels_and_lifetimes(client, shop):
    site, _ = shop
    swedish = parsed(get(client, site.key, "?lang=sv"))
    assert swedish.cookies("analytics", "google-analytics")["_ga Cookie"][3] == "2 år"
    assert "Lagringstid 25 månader (Enterprise plan)" in swedish.text("analytics", "piwik-pro")
    assert "Överföring utanför EU/EES Ja (USA)" in swedish.text("analytics", "google-analytics")
    norwegian = parsed(get(client, site.key, **{"Accept-Language": "nb-NO"}))
    piwik = norwegian.cookies("analytics", "piwik-pro")
    assert piwik["_pk_id.* Informasjonskapsel"][3] == "13 måneder"
    assert "Behandlingsgrunnlag Strengt nødvendig" in norwegian.text("necessary", "craft-cms")


def test_invalid_language_is_refused(client, shop):
    site, _ = shop
    for suffix in ("", ".fragment.html"):
        response = get(client, site.key, f"{suffix}?lang=not a language")
        assert response.status_code == 422
        body = response.get_json()
        assert body["code"] == 422 and "lang" in body["errors"]["query"]


# --- the fragment ---------------------------------------------------------------------------

def test_fragment_is_script_free_and_embeddable(client, shop):
    site, _ = shop
    response = get(client, site.key, ".fragment.html", Origin="https://elsewhere.example")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    html = response.get_data(as_text=True)
    assert "<script" not in html.lower() and "<html" not in html.lower()
    assert not re.search(r"\son[a-z]+\s*=", html, re.IGNORECASE)
    fragment = Declaration(html)
    assert fragment.purposes["marketing"] == ["facebook"]
    assert fragment.references["marketing"] == ["piwik-pro"]
    for tag, attributes in fragment.tags:
        assert tag not in FORBIDDEN_TAGS
        assert not [name for name in attributes if name.startswith("on")]
        assert "src" not in attributes and "style" not in attributes
        for name in (attributes.get("class") or "").split():
            assert name.startswith("cmp-decl"), (tag, name)
        href = attributes.get("href")
        if href is not None:
            assert href.startswith(("https://", "mailto:", "#cmp-decl-")), href


def test_page_includes_the_fragment_markup(client, shop):
    site, _ = shop
    page = get(client, site.key, "?lang=nl").get_data(as_text=True)
    fragment = get(client, site.key, ".fragment.html?lang=nl").get_data(as_text=True)
    section = re.search(r'<section class="cmp-decl".*</section>', page, re.DOTALL).group(0)
    # the page's headings start one level higher (h1), otherwise the markup is the same
    shifted = re.sub(r"<(/?)h([1-5])", lambda m: f"<{m[1]}h{int(m[2]) + 1}", section)
    assert shifted == fragment.strip()
    assert "<!doctype html>" in page and "<script" not in page.lower()


def test_fragment_preflight_allows_conditional_requests(client, shop):
    site, _ = shop
    response = client.options(f"/sites/{site.key}/cookies.fragment.html", headers={
        "Origin": "https://shop.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "if-none-match"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "If-None-Match" in response.headers["Access-Control-Allow-Headers"]


# --- caching and currency -------------------------------------------------------------------

@pytest.mark.parametrize("suffix", ["", ".fragment.html"])
def test_strong_etag_and_not_modified(client, shop, suffix):
    site, _ = shop
    first = get(client, site.key, f"{suffix}?lang=de")
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert "max-age=300" in first.headers["Cache-Control"]
    assert "Accept-Language" in first.headers["Vary"]
    again = get(client, site.key, f"{suffix}?lang=de", **{"If-None-Match": etag})
    assert (again.status_code, again.data) == (304, b"")
    assert again.headers["ETag"] == etag
    assert get(client, site.key, f"{suffix}?lang=sv").headers["ETag"] != etag
    assert get(client, site.key, f"{suffix}?lang=de").headers["ETag"] == etag


def test_publishing_a_new_version_changes_the_declaration(client, shop):
    site, _ = shop
    before = get(client, site.key, "?lang=en")
    versions.set_draft_vendors(site, [("mixpanel", "legacy"), ("hubspot", None)])
    versions.publish(site)
    after = get(client, site.key, "?lang=en", **{"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and after.headers["ETag"] != before.headers["ETag"]
    page = parsed(after)
    vendors = {vendor for _, vendor in page.vendors}
    assert vendors == {"cmp", "mixpanel", "hubspot"}
    assert page.purposes["necessary"] == ["cmp"]  # the banner's own cookie, always
    assert "(version 2)" in after.get_data(as_text=True)
    assert "60 months (Projects created before 1 September 2025)" in page.text(
        "analytics", "mixpanel")


def test_unknown_site_or_nothing_published_is_404(client, shop):
    unpublished = create_site({**SHOP, "name": "Unpublished"})
    for key in ("no-such-site", unpublished.key, "bad key!"):
        page = get(client, key, "", **{"Accept-Language": "sv"})  # people open the page
        assert page.status_code == 404 and page.mimetype == "text/html"
        assert "<h1>Ingen cookiedeklaration här</h1>" in page.get_data(as_text=True)
        fragment = get(client, key, ".fragment.html")  # programs fetch the fragment
        assert fragment.status_code == 404 and fragment.get_json()["code"] == 404


def test_configuration_text_is_escaped(client, shop):
    site, _ = shop
    vendor = db.session.get(Vendor, "mixpanel")
    document = dict(vendor.document)
    document["name"] = 'Mix<img src=x onerror="alert(1)">panel'
    document["description"] = {**document["description"],
                               "en": "<script>alert('xss')</script> & more"}
    document["cookies"] = [{**document["cookies"][0],
                            "description": '"><svg onload=alert(2)>'}]
    vendor.document = document
    db.session.commit()
    versions.set_draft_vendors(site, [("mixpanel", None)])
    versions.publish(site)
    for suffix in ("?lang=en", ".fragment.html?lang=en"):
        html = get(client, site.key, suffix).get_data(as_text=True)
        assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt; &amp; more" in html
        assert "Mix&lt;img src=x onerror=&#34;alert(1)&#34;&gt;panel" in html
        assert "&#34;&gt;&lt;svg onload=alert(2)&gt;" in html
        parsed_page = Declaration(html)
        assert not [tag for tag, _ in parsed_page.tags if tag in {"script", "img", "svg"}]
        assert not [name for _, attributes in parsed_page.tags for name in attributes
                    if name.startswith("on")]
        assert parsed_page.text("analytics", "mixpanel").startswith(
            "Mix<img src=x onerror=\"alert(1)\">panel <script>alert('xss')</script> & more")


# --- wording ---------------------------------------------------------------------------------

@pytest.mark.parametrize("lifetime,language,words", [
    ("session", "en", "Session (until the browser closes)"),
    ("persistent", "de", "Dauerhaft (bis zur Löschung)"),
    (1, "en", "1 day"),
    (14, "sv", "14 dagar"),
    (30, "nl", "1 maand"),
    (90, "en", "3 months"),
    (183, "en", "6 months"),
    (395, "nb", "13 måneder"),
    (400, "en", "400 days"),
    (365, "de", "1 Jahr"),
    (730, "nl", "2 jaar"),
])
def test_lifetime_in_words(lifetime, language, words):
    assert lifetime_words(lifetime, LABELS[language]) == words
