"""Hostile input: XSS payloads in every text a marketer can enter, set through the admin
API, published, and rendered everywhere they are shown: the banner in Chromium (both
layers, every vendor's details open, in two languages), the console's pages (parsed, and
opened in a logged-in Chromium, the draft's preview frames included), the cookie
declaration page and fragment, and the visitor's /my-consent/ page.

Each payload sets ``window.__xss`` to its field's number, so a payload that runs names
the field it came from. Every field gets every payload, one round each. Fields whose
format cannot hold such text (URLs, origins, theme values, region keys, ids, hosts,
domains, countries) must refuse it with a 422 naming the field."""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import quote

import pytest

from cmp_server.banner.strings import TEXT_KEYS
from cmp_server.platform.extensions import db
from cmp_server.models import Vendor
from e2e.conftest import app, engine_name  # noqa: F401  (the app with e2e's fixture pages, SQLite)
from tests.conftest import SHOP
from tests.support.token_client import TokenClient
from tests.accounts.test_auth import PASSWORD, log_in, people  # noqa: F401  (fixture)

pytestmark = pytest.mark.stress

PAYLOADS = [
    '<script>window.__xss={n}</script>',
    '"><img src=x onerror="window.__xss={n}">',
    "'><svg onload=window.__xss={n}>",
    '</script><script>window.__xss={n}</script>',
    '{{7*7}} {% raw %}${7*7} <%= 7*7 %> #{7*7}',
    '`"\'><iframe srcdoc="<script>parent.__xss={n}</script>">`',
    '\u202e<b onmouseover=window.__xss={n}>\u2066RTL\u2069</b>\u202c\u200b',
    'javascript:window.__xss={n}',
    '</textarea></title></style><svg/onload=window.__xss={n}>',
    '<a href="javascript:window.__xss={n}" autofocus onfocus=window.__xss={n}>x</a>',
    '<details open ontoggle=window.__xss={n}>',
]
URL_PAYLOADS = [  # valid https URLs that try to break out of an attribute
    'https://x.example/"><svg/onload=window.__xss={n}>',
    "https://x.example/?q=<script>window.__xss={n}</script>",
    "https://x.example/'`><img/src=x/onerror=window.__xss={n}>",
]
EMAIL_PAYLOADS = [  # quoted local parts are valid addresses
    '"<svg/onload=window.__xss={n}>"@example.com',
    '"<script>window.__xss={n}</script>"@example.com',
]
FONT = "Sans\", 'x' -- \"y"  # quotes are allowed in the font; it becomes a CSS property
LANGUAGES = ("en", "sv")
CATALOGUE_LANGUAGES = ("en", "sv", "nl", "de", "nb")


@dataclass(frozen=True)
class Field:
    path: str                    # where it lives: site.*, texts.LANG.KEY, vendor.*
    kind: str = "text"           # text, url, email
    max_length: int = 200
    banner: str | None = None    # shown by the banner: "1" first layer, "2" settings, "mine"
    max_stars: int = 1000        # "*" a field takes (a cookie glob: two)


def marketer_fields() -> list[Field]:
    first = {"title", "intro", "accept", "reject", "customize"}
    settings = {"settings", "always", "cookies", "retention", "months", "days", "hosting",
                "policy", "save"}
    fields = [Field("site.name"), Field("site.controller.name", banner="1"),
              Field("site.controller.address", max_length=500),
              Field("site.controller.phone", max_length=50),
              Field("site.controller.email", "email"),
              Field("site.privacy_policy_url", "url", banner="1")]
    for language in LANGUAGES:
        for key in TEXT_KEYS:
            shown = "1" if key in first else "2" if key in settings else (
                "mine" if key in ("cid", "mine") else None)
            fields.append(Field(f"texts.{language}.{key}", max_length=1000, banner=shown))
    fields += [Field("vendor.name", banner="2"), Field("vendor.company.name", banner="2"),
               Field("vendor.company.address", max_length=500),
               Field("vendor.cookies.0.name", banner="2", max_stars=2),  # a glob: two at most
               Field("vendor.cookies.0.description", max_length=500, banner="2"),
               Field("vendor.retention.note", max_length=1000),
               Field("vendor.retention.tiers.0.name", max_length=100),
               Field("vendor.hosting.safeguards", max_length=1000, banner="2"),
               Field("vendor.sources.0.facts", max_length=500),
               Field("vendor.policy_url", "url", banner="2"),
               Field("vendor.sources.0.url", "url")]
    fields += [Field(f"vendor.description.{language}", max_length=2000,
                     banner="2" if language in LANGUAGES else None)
               for language in CATALOGUE_LANGUAGES]
    return fields


FIELDS = marketer_fields()


def value_for(index: int, field: Field, round_: int) -> str:
    """Field number index+1's payload in this round: each field starts at a different
    payload and sees every one over the rounds (the longest that fit a short field are
    skipped for it)."""
    pool = {"text": PAYLOADS, "url": URL_PAYLOADS, "email": EMAIL_PAYLOADS}[field.kind]
    n = str(index + 1)
    fitting = [p.replace("{n}", n) for p in pool if len(p.replace("{n}", n)) <= field.max_length
               and p.count("*") <= field.max_stars]
    return fitting[(index + round_) % len(fitting)]


def put(document: dict, path: list[str], value) -> None:
    for part in path[:-1]:
        document = document[int(part)] if isinstance(document, list) else document[part]
    last = path[-1]
    if isinstance(document, list):
        document[int(last)] = value
    else:
        document[last] = value


# --- what an HTML page must not contain -------------------------------------------------

class Page(HTMLParser):
    """Elements and attributes a payload would have injected, and the page's text and
    attribute values as a browser decodes them."""

    URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "xlink:href"}

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.injected: list[str] = []
        self.strings: list[str] = []
        self._script = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self._script = tag == "script"
        for name, value in attrs:
            value = value or ""
            self.strings.append(value)
            if name.startswith("on") or name == "srcdoc":
                self.injected.append(f"<{tag} {name}={value!r}>")
            if name in self.URL_ATTRIBUTES and re.match(r"\s*(javascript|data|vbscript):",
                                                        value, re.I):
                self.injected.append(f"<{tag} {name}={value!r}>")

    def handle_endtag(self, tag):
        self._script = False

    def handle_data(self, data):
        if self._script and "__xss" in data:
            self.injected.append(f"<script>{data}</script>")
        self.strings.append(data)

    @property
    def text(self) -> str:
        return "\n".join(self.strings)


RAW = ("<script>window.__xss", "<img src=x", "<svg onload", "<svg/onload", "<iframe srcdoc",
       "<b onmouseover", "<details open", "<a href=\"javascript:")


def check_html(html: str, where: str, shown: list[str] = ()) -> Page:
    """No payload became markup, and each of ``shown`` reads literally."""
    page = Page(html)
    assert page.injected == [], where
    assert not [raw for raw in RAW if raw in html], where
    missing = [value for value in shown if value not in page.text]
    assert missing == [], (where, missing)
    return page


# --- the admin API ------------------------------------------------------------------------

def error_paths(errors, prefix: str = "") -> list[str]:
    """marshmallow's nested errors as dotted paths."""
    if isinstance(errors, dict):
        return [path for key, value in errors.items()
                for path in error_paths(value, f"{prefix}.{key}" if prefix else str(key))]
    return [prefix]


def refused(api: TokenClient, method: str, path: str, body: dict, field: str) -> None:
    answer = api(method, path, body)
    assert answer.status_code == 422, (field, body, answer.status_code)
    paths = error_paths(answer.json["errors"]["json"])
    assert any(p.startswith(field) for p in paths), (field, paths)


REFUSALS_URL = ["javascript:window.__xss=1", "JaVaScRiPt:window.__xss=1",
                " javascript:window.__xss=1", "data:text/html,<script>window.__xss=1</script>",
                "vbscript:msgbox(1)", "https://x.example/\n", "//x.example/<script>"]
REFUSALS_ORIGIN = ["https://<svg>", 'http://a"onmouseover=window.__xss=1',
                   "javascript:window.__xss=1", "https://x.example/\"><script>",
                   "https://a`b.example", "https://x.example%22%3E%3Cscript%3E",
                   "http://[::1"]
REFUSALS_THEME = ["#fff\n", "#fff;background:url(javascript:window.__xss=1)",
                  "red</style><script>window.__xss=1</script>", "4px\n", "4px;}",
                  "expression(window.__xss=1)", "<svg onload=window.__xss=1>"]


def check_refusals(api: TokenClient, key: str, vendor: dict) -> int:
    """Every format-bound field refuses the payloads, naming itself; returns the count."""
    count = 0
    site = f"/sites/{key}"
    for value in REFUSALS_URL:
        refused(api, "PATCH", site, {"privacy_policy_url": value}, "privacy_policy_url")
        for field in ("policy_url", "sources"):
            document = copy.deepcopy(vendor)
            if field == "sources":
                document["sources"][0]["url"] = value
            else:
                document["policy_url"] = value
            refused(api, "PUT", f"/vendors/{vendor['id']}", document, field)
        count += 3
    for value in REFUSALS_ORIGIN:
        refused(api, "PATCH", site, {"origins": [value]}, "origins")
        count += 1
    for value in PAYLOADS[:3] + ["DE\n"]:
        controller = {**SHOP["controller"], "country": value}
        refused(api, "PATCH", site, {"controller": controller}, "controller.country")
        controller = {**SHOP["controller"], "email": value.replace("{n}", "1")}
        refused(api, "PATCH", site, {"controller": controller}, "controller.email")
        count += 2
    for name in ("accent", "bg", "fg", "focus", "link", "radius", "font"):
        for value in REFUSALS_THEME:
            refused(api, "PATCH", f"{site}/draft", {"theme": {name: value}}, f"theme.{name}")
            count += 1
    for value in PAYLOADS[:4] + ["US-CA\n", "default\n"]:
        refused(api, "PATCH", f"{site}/draft",
                {"region_rules": {value.replace("{n}", "1"): "opt-out"}}, "region_rules")
        refused(api, "PATCH", f"{site}/draft", {"texts": {value: {"title": "x"}}}, "texts")
        refused(api, "PATCH", f"{site}/draft", {"texts": {"en": {value: "x"}}}, "texts")
        count += 3
    bad_vendor_values = {
        "id": ["x\n", "<script>", "x\"y"], "hosts": ["x.example\n", "<svg>.example"],
        "cookies": [".x.example\n", "<b>.example"], "company": ["US\n"],
        "hosting": ["US\n", "<b>"],
    }
    for field, values in bad_vendor_values.items():
        for value in values:
            document = copy.deepcopy(vendor)
            if field == "id":
                document["id"] = value
            elif field == "hosts":
                document["hosts"] = [value]
            elif field == "cookies":
                document["cookies"][0]["domain"] = value
            elif field == "company":
                document["company"]["country"] = value
            else:
                document["hosting"]["locations"] = [value]
            if field == "id":
                refused(api, "POST", "/vendors", document, "id")
            else:
                refused(api, "PUT", f"/vendors/{vendor['id']}", document, field)
            count += 1
    return count


# --- the test -----------------------------------------------------------------------------

def custom_vendor() -> dict:
    document = copy.deepcopy(db.session.get(Vendor, "mixpanel").document)
    document.update(id="hostile-analytics", name="Hostile analytics")
    document["cookies"] = [{**document["cookies"][0], "name": "hostile_id", "match": "glob",
                            "lifetime": 30}]
    document["sources"] = document["sources"][:1]
    return document


def round_changes(vendor: dict, round_: int) -> tuple[dict, dict, dict, dict]:
    """The site's settings, draft and custom vendor with this round's payloads, and each
    field's value."""
    values = {f.path: value_for(i, f, round_) for i, f in enumerate(FIELDS)}
    site = {"name": values["site.name"], "privacy_policy_url": values["site.privacy_policy_url"],
            "controller": {**SHOP["controller"],
                           **{k: values[f"site.controller.{k}"]
                              for k in ("name", "address", "phone", "email")}}}
    texts = {lang: {key: values[f"texts.{lang}.{key}"] for key in TEXT_KEYS}
             for lang in LANGUAGES}
    draft = {"texts": texts, "theme": {"font": FONT, "accent": "#0a6b2d"},
             "vendors": [{"id": "mixpanel"}, {"id": vendor["id"]}]}
    document = copy.deepcopy(vendor)
    for path, value in values.items():
        if path.startswith("vendor."):
            put(document, path.split(".")[1:], value)
    return site, draft, document, values


# Until every handler a payload could have set would have run: each image (in the page and
# in shadow roots) has loaded or failed, whose handlers run before ours; then the next
# rendering update (autofocus) and a task after it (toggle events).
HANDLERS_HAD_THEIR_CHANCE = """async () => {
    const roots = [document, ...[...document.querySelectorAll('*')]
        .filter(e => e.shadowRoot).map(e => e.shadowRoot)];
    const pending = roots.flatMap(r => [...r.querySelectorAll('img')]).filter(i => !i.complete);
    await Promise.all(pending.map(i => new Promise(done => {
        i.addEventListener('load', done); i.addEventListener('error', done); })));
    await new Promise(done => requestAnimationFrame(() => setTimeout(done)));
}"""


def payloads_had_their_chance(page) -> None:
    for frame in page.frames:
        frame.wait_for_load_state("load")  # frames (srcdoc ones too), SVG and images
        frame.evaluate(HANDLERS_HAD_THEIR_CHANCE)


BANNER_TEXT = """() => { const d = document.getElementById('cmp-root').shadowRoot
    .getElementById('cmp-banner'); return {text: d.textContent, hrefs: [...d.querySelectorAll('a')]
    .map(a => a.getAttribute('href'))}; }"""


def banner_checks(page, values: dict, language: str, layer: str, seen: dict) -> None:
    """What the banner shows on this layer is the literal text of the fields it shows."""
    shown = page.evaluate(BANNER_TEXT)
    for field in FIELDS:
        if field.banner != layer or (field.path.startswith("texts.")
                                     and not field.path.startswith(f"texts.{language}.")):
            continue
        if field.path.startswith("vendor.description.") and not field.path.endswith(language):
            continue
        if field.path.startswith("vendor.cookies.") and field.path.endswith(".description") \
                and language != "en":
            continue  # the catalogue's cookie descriptions are English: shown in English only
        value = values[field.path]
        if field.kind == "url":
            assert value in shown["hrefs"], (field.path, shown["hrefs"])
        else:
            assert value in shown["text"], (field.path, language, layer)
        seen[field.path] = True


def open_banner(page, live: str, key: str, language: str, values: dict, seen: dict) -> str:
    """Both layers, every detail open, a choice recorded, layer 2 again with the consent
    id; nothing ran. Returns the receipt token."""
    page.goto(f"{live.replace('127.0.0.1', 'localhost')}/fixture/lang.html?"
              f"CMP={quote(live)}&SITE={key}&lang={language}")
    page.locator("#cmp-banner").wait_for()
    banner_checks(page, values, language, "1", seen)
    page.click("[data-cmp-action=customize]")
    page.locator("#cmp-banner details").first.wait_for()
    page.evaluate("""() => document.getElementById('cmp-root').shadowRoot
        .querySelectorAll('details').forEach(d => d.open = true)""")
    banner_checks(page, values, language, "2", seen)
    page.click("[data-cmp-action=accept-all]")
    page.wait_for_function("document.cookie.includes('cmp_consent=') && window.cmp.getConsent()"
                           ".receipt_id && !localStorage.getItem('cmp_pending')")
    page.evaluate("window.cmp.open()")
    page.locator("#cmp-banner .id").wait_for()
    banner_checks(page, values, language, "mine", seen)
    payloads_had_their_chance(page)
    assert page.evaluate("window.__xss") is None, FIELDS[page.evaluate("window.__xss") - 1]
    return next(c["value"] for c in page.context.cookies() if c["name"] == "cmp_consent")


def console_pages(key: str, vendor_name: str) -> list[tuple[str, str]]:
    return [
        (f"/console/sites/{key}/settings", "settings"),
        (f"/console/sites/{key}/draft?language=en", "draft en"),
        (f"/console/sites/{key}/draft?language=sv", "draft sv"),
        (f"/console/sites/{key}/preview?lang=en", "preview"),
        (f"/console/catalogue?q={quote(vendor_name)}", "catalogue"),
        ("/console/catalogue", "catalogue, all"),
        (f"/console/sites/{key}/publish", "publish"),
        (f"/console/sites/{key}/versions", "versions"),
        (f"/console/sites/{key}/embed", "embed"),
        ("/console/audit", "audit trail"),
        (f"/console/sites/{key}/analytics", "analytics"),
        (f"/console/sites/{key}/scan", "scan"),
        ("/console/", "home"),
    ]


def shown_on(where: str, values: dict) -> list[str]:
    """Fields a console page or the declaration shows as text."""
    v = values
    site = [v["site.name"]]
    return {
        "settings": site + [v[f"site.controller.{k}"] for k in ("name", "address", "phone",
                                                                  "email")]
        + [v["site.privacy_policy_url"]],
        "draft en": site + [v[f"texts.en.{k}"] for k in TEXT_KEYS] + [v["vendor.name"], FONT],
        "draft sv": site + [v[f"texts.sv.{k}"] for k in TEXT_KEYS],
        "preview": site, "analytics": site, "scan": site, "home": site,
        "publish": site,
        "versions": site, "embed": site + [v["vendor.name"]],
        "catalogue": [v["vendor.name"], v["vendor.company.name"],
                      v["vendor.retention.tiers.0.name"]],
        "declaration": [v[f"site.controller.{k}"] for k in ("name", "email")]
        + [v[f"vendor.{k}"] for k in ("name", "cookies.0.name", "cookies.0.description",
                                      "hosting.safeguards", "policy_url")],
        "my-consent": [v["vendor.name"]],
    }.get(where, [])


def test_xss_payloads_render_as_text_everywhere(app, catalogue, live_server, people, browser,
                                               figures):
    marketer = people["marketer"]
    api = TokenClient(app, marketer, "/api/v1/admin", "xss")
    port = live_server.rsplit(":", 1)[1]
    key = api("POST", "/sites", {**SHOP, "origins": [live_server, f"http://localhost:{port}"]},
              201).json["key"]
    vendor = custom_vendor()
    api("POST", "/vendors", vendor, 201)
    refusals = check_refusals(api, key, vendor)

    console = log_in(app.test_client(), "admin")
    dialogs: list[str] = []
    admin = browser.new_context()  # the console, logged in, in Chromium
    admin_page = admin.new_page()
    admin_page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    admin_page.goto(f"{live_server}/console/login")
    admin_page.fill("input[name=email]", "admin@shop.example")
    admin_page.fill("input[name=password]", PASSWORD)
    admin_page.click("button[type=submit]")
    admin_page.wait_for_url(f"{live_server}/console/")

    pages = banner_loads = 0
    seen: dict[str, bool] = {}
    try:
        for round_ in range(len(PAYLOADS)):
            site, draft, document, values = round_changes(vendor, round_)
            api("PATCH", f"/sites/{key}", site, 200)
            api("PUT", f"/vendors/{vendor['id']}", document, 200)
            api("PATCH", f"/sites/{key}/draft", draft, 200)
            # the console before publishing (the draft's preview shows the new texts)
            for path, where in console_pages(key, values["vendor.name"]):
                answer = console.get(path)
                assert answer.status_code == 200, (path, answer.status_code)
                check_html(answer.get_data(as_text=True), where, shown_on(where, values))
                pages += 1
            for path, where in console_pages(key, values["vendor.name"])[:4]:
                admin_page.goto(live_server + path)
                if where.startswith(("draft", "preview")):
                    frame = admin_page.frame_locator("#cmp-preview") if where != "preview" \
                        else admin_page
                    frame.locator("#cmp-banner").wait_for()
                payloads_had_their_chance(admin_page)
                for frame in admin_page.frames:
                    assert frame.evaluate("window.__xss") is None, (where, frame.url)
            api("POST", f"/sites/{key}/publish", None, 201)
            # the banner, on a page of the site
            for language in LANGUAGES:
                context = browser.new_context()
                try:
                    page = context.new_page()
                    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
                    token = open_banner(page, live_server, key, language, values, seen)
                    banner_loads += 1
                finally:
                    context.close()
                # the visitor's own page, with the token the banner was given
                answer = app.test_client().post("/my-consent/", data={"token": token},
                                                headers={"Accept-Language": language})
                assert answer.status_code == 200
                check_html(answer.get_data(as_text=True), "my-consent",
                           shown_on("my-consent", values))
                pages += 1
                # the cookie declaration
                for path in (f"/sites/{key}/cookies", f"/sites/{key}/cookies.fragment.html"):
                    answer = app.test_client().get(f"{path}?lang={language}")
                    assert answer.status_code == 200
                    check_html(answer.get_data(as_text=True), "declaration",
                               shown_on("declaration", values)
                               + [values[f"vendor.description.{language}"]])
                    pages += 1
            for path, where in console_pages(key, values["vendor.name"])[6:]:
                check_html(console.get(path).get_data(as_text=True), where,
                           shown_on(where, values))
                pages += 1
    finally:
        admin.close()
    assert dialogs == []
    shown_in_banner = [f.path for f in FIELDS if f.banner]
    assert sorted(seen) == sorted(shown_in_banner)
    figures.add("hostile input",
                f"XSS payloads ({len(PAYLOADS)} text, {len(URL_PAYLOADS)} URL, "
                f"{len(EMAIL_PAYLOADS)} e-mail) in {len(FIELDS)} marketer fields, each field "
                "every payload, through the banner (Chromium), console, cookie declaration "
                "and /my-consent/",
                f"0 executed, 0 unescaped in {banner_loads} banner loads and {pages} pages; "
                f"{refusals} format-bound values refused with the field named")
