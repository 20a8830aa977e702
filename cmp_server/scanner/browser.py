"""The site scanner's browser side: crawl pages in headless Chromium and record what they
set and request, with no choice made, after Reject all, after Accept all and after a
withdrawal (Accept all, then Reject all in the banner's settings layer).

Each pass runs in a fresh browser context (a new profile: no cookies, no storage). The
first pass follows same-site links from each start URL to ``depth`` and at most
``max_pages`` pages in all; the other passes revisit the pages it found. The banner is
driven through its DOM contract (docs/architecture.md: ``#cmp-banner`` in the open shadow root of
``#cmp-root``, buttons ``data-cmp-action="reject-all"`` / ``"accept-all"``, and
``window.cmp``). A page without the banner gets the first pass only.

The result, the *observation*, is plain JSON; ``cmp_server.scanner.report`` matches it to the
catalogue. The banner's own cookie and storage keys (``cmp_*``) and requests to the consent
platform serving the tag are left out: they are the consent mechanism itself.
"""
from __future__ import annotations

import contextlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from datetime import datetime, timezone
from typing import Any, Callable, Iterator
from urllib.parse import urldefrag, urlsplit

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from cmp_server.scanner.report import PASS_LABELS, site_of

CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright cannot download its own browsers here
# The scanner's: Chromium with its sandbox, as "nobody" when this runs as root
SANDBOXED_CHROMIUM = str(Path(__file__).with_name("sandboxed_chromium"))
CHROMIUM_FLAGS = [  # Playwright adds --no-sandbox unless chromium_sandbox=True
    "--headless", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
OWN_PREFIX = "cmp_"  # the banner's cookie cmp_consent and storage key cmp_pending
BANNER = "#cmp-banner"
BUTTON = '#cmp-banner{layer} [data-cmp-action="{action}"]'
TAG = """() => { const s = document.querySelector('script[data-site][src]');
  return s ? {site_key: s.getAttribute('data-site'), src: s.src} : null; }"""
STORAGE = """() => { try { return {origin: location.origin,
  local_storage: Object.keys(localStorage), session_storage: Object.keys(sessionStorage)};
  } catch (e) { return null; } }"""
# the choice is made and the consent server has acknowledged it (the cookie holds a receipt)
RECORDED = """state => { const c = window.cmp && window.cmp.getConsent();
  return !!c && c.state === state && !!c.receipt_id && !localStorage.getItem('cmp_pending'); }"""
LINKS = "els => els.map(e => e.href)"

Progress = Callable[[str], None]
PrepareContext = Callable[[BrowserContext], None]


@dataclass
class ScanOptions:
    depth: int = 1
    max_pages: int = 10
    settle_ms: int = 1500           # after "load", for late tags and beacons
    page_timeout_ms: int = 20_000
    banner_timeout_ms: int = 5_000  # how long to wait for the banner to appear
    choice_timeout_ms: int = 10_000  # how long the consent server may take to acknowledge


class PassRecorder:
    """What one pass saw: cookies, storage keys and third-party requests, each once, with
    the page where it was first seen."""

    def __init__(self, site: str):
        self.site, self.cmp_origin, self.page_url = site, None, ""
        self.items: dict[tuple, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        # what was there just before the choice: item key -> the cookie's value and expiry
        self.before_choice: dict[tuple, Any] | None = None

    def third_party(self, host: str) -> bool:
        return site_of(host) != self.site

    def on_request(self, request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
            return
        if self.third_party(parts.hostname):
            self.requests.append({"type": "request", "host": parts.hostname,
                                  "url": without_query(request.url),
                                  "resource_type": request.resource_type, "third_party": True,
                                  "origin": f"{parts.scheme}://{parts.netloc}",
                                  "page": without_query(self.page_url)})

    def present(self, page: Page) -> list[dict[str, Any]]:
        """The cookies of the whole context and the storage keys of every frame of the page."""
        found = [cookie_item(c, self.third_party(c["domain"].lstrip(".")))
                 for c in page.context.cookies()]
        for frame in page.frames:
            try:
                keys = frame.evaluate(STORAGE)
            except PlaywrightError:  # detached, or navigating
                continue
            if not keys or keys["origin"] == "null":
                continue
            host = urlsplit(keys["origin"]).hostname or ""
            found += [{"type": kind, "name": name, "origin": keys["origin"], "host": host,
                       "third_party": self.third_party(host)}
                      for kind in ("local_storage", "session_storage") for name in keys[kind]]
        return [item for item in found if not item["name"].startswith(OWN_PREFIX)]

    def snapshot(self, page: Page) -> None:
        """Record what is there now. After a choice, an item is "kept" when it is exactly as
        it was before the choice (a cookie with the same value and expiry), else "set"."""
        for item in self.present(page):
            key, fingerprint = item_key(item), item.pop("fingerprint", None)
            if key not in self.items:
                if self.before_choice is not None:
                    kept = key in self.before_choice and self.before_choice[key] == fingerprint
                    item["after_choice"] = "kept" if kept else "set"
                self.items[key] = {**item, "page": without_query(self.page_url)}

    def result(self) -> dict[str, list]:
        items = list(self.items.values())
        requests = [r for r in self.requests if r.pop("origin") != self.cmp_origin]
        return {"cookies": [i for i in items if i["type"] == "cookie"],
                "storage": [i for i in items if i["type"] != "cookie"],
                "requests": requests}


def without_query(url: str) -> str:
    """A URL as reports keep it: scheme, host and path. Query strings carry tokens and
    keys (an api_key= was seen) that a report has no business storing."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def cookie_item(cookie: dict[str, Any], third_party: bool) -> dict[str, Any]:
    expires = cookie.get("expires", -1)
    return {"type": "cookie", "name": cookie["name"], "domain": cookie["domain"],
            "path": cookie["path"], "expires": None if expires is None or expires < 0 else expires,
            "host": cookie["domain"].lstrip("."), "third_party": third_party,
            "fingerprint": [cookie["value"], expires]}


def item_key(item: dict[str, Any]) -> tuple:
    return (item["type"], item["name"], item.get("domain") or item.get("origin"), item.get("path"))


# --- pages ------------------------------------------------------------------------------------

def visit(page: Page, url: str, options: ScanOptions, errors: list[str]) -> bool:
    try:
        page.goto(url, wait_until="load", timeout=options.page_timeout_ms)
    except PlaywrightError as error:
        errors.append(f"could not load {url}: {error.message.splitlines()[0]}")
        return False
    page.wait_for_timeout(options.settle_ms)
    return True


def same_site_links(page: Page, start: str) -> list[str]:
    origin = urlsplit(start)
    links = []
    for href in page.eval_on_selector_all("a[href]", LINKS):
        url = urldefrag(href).url
        parts = urlsplit(url)
        if parts.scheme == origin.scheme and parts.hostname \
                and site_of(parts.hostname) == site_of(origin.hostname or ""):
            links.append(url)
    return links


def find_banner(page: Page, url: str, options: ScanOptions) -> dict[str, Any]:
    tag = page.evaluate(TAG)
    found = False
    if tag:
        try:
            page.locator(BANNER).wait_for(state="visible", timeout=options.banner_timeout_ms)
            found = True
        except PlaywrightError:
            pass
    return {"url": url, "found": found, "site_key": tag and tag["site_key"],
            "cmp_origin": tag and "{0.scheme}://{0.netloc}".format(urlsplit(tag["src"]))}


# --- passes -----------------------------------------------------------------------------------

@contextlib.contextmanager
def fresh_profile(browser: Browser, recorder: PassRecorder,
                  prepare_context: PrepareContext | None) -> Iterator[Page]:
    context = browser.new_context()
    try:
        if prepare_context:
            prepare_context(context)
        context.on("request", recorder.on_request)
        yield context.new_page()
    finally:
        context.close()


def first_pass(browser: Browser, start: str, options: ScanOptions, visited: set[str],
               observation: dict[str, Any], prepare_context: PrepareContext | None,
               progress: Progress) -> tuple[list[str], dict[str, Any]]:
    """No choice made: crawl from ``start`` and record. Answers the pages and the banner."""
    recorder = PassRecorder(site_of(urlsplit(start).hostname or ""))
    pages: list[str] = []
    banner = {"url": start, "found": False, "site_key": None, "cmp_origin": None}
    queue = deque([(start, 0)])
    with fresh_profile(browser, recorder, prepare_context) as page:
        while queue and len(visited) < options.max_pages:
            url, depth = queue.popleft()
            if url in visited:
                continue
            visited.add(url)
            recorder.page_url = url
            progress(f"{PASS_LABELS['before']}: {url}")
            if not visit(page, url, options, observation["errors"]):
                continue
            if not pages:
                banner = find_banner(page, url, options)
            pages.append(url)
            recorder.snapshot(page)
            if depth < options.depth:
                queue.extend((link, depth + 1) for link in same_site_links(page, start)
                             if link not in visited)
        recorder.cmp_origin = banner["cmp_origin"]
        add_pass(observation, "before", recorder.result())
    return pages, banner


def choose(page: Page, recorder: PassRecorder, action: str, state: str, options: ScanOptions,
           layer: str = "") -> None:
    """Click a banner button, and wait until the consent server has acknowledged it. What
    was there just before the click tells "kept" from "set" afterwards."""
    button = page.locator(BUTTON.format(layer=layer, action=action))
    button.wait_for(state="visible", timeout=options.banner_timeout_ms)
    recorder.before_choice = {item_key(i): i.get("fingerprint") for i in recorder.present(page)}
    recorder.requests.clear()  # from here on only what comes after the choice counts
    recorder.items.clear()
    button.click()
    page.wait_for_function(RECORDED, arg=state, timeout=options.choice_timeout_ms)


def make_choice(page: Page, recorder: PassRecorder, name: str, start: str, options: ScanOptions,
                errors: list[str]) -> None:
    if name == "reject":
        choose(page, recorder, "reject-all", "refused", options)
    elif name == "accept":
        choose(page, recorder, "accept-all", "given", options)
    else:  # withdraw: accept, let the page run with consent, then refuse in the settings layer
        choose(page, recorder, "accept-all", "given", options)
        visit(page, start, options, errors)
        page.evaluate("window.cmp.open()")  # what the page's "Privacy settings" link does
        choose(page, recorder, "reject-all", "refused", options, layer=".l2")


def choice_pass(browser: Browser, name: str, pages: list[str], banner: dict[str, Any],
                options: ScanOptions, observation: dict[str, Any],
                prepare_context: PrepareContext | None, progress: Progress) -> None:
    recorder = PassRecorder(site_of(urlsplit(pages[0]).hostname or ""))
    recorder.cmp_origin = banner["cmp_origin"]
    errors = observation["errors"]
    with fresh_profile(browser, recorder, prepare_context) as page:
        recorder.page_url = pages[0]
        progress(f"{PASS_LABELS[name]}: making the choice on {pages[0]}")
        if not visit(page, pages[0], options, errors):
            return
        try:
            make_choice(page, recorder, name, pages[0], options, errors)
        except PlaywrightError as error:
            errors.append(f"{PASS_LABELS[name]}: the choice could not be made on {pages[0]} "
                          f"({error.message.splitlines()[0]})")
            return
        recorder.snapshot(page)
        recorder.before_choice = {}  # anything new from here on was set after the choice
        for url in pages:
            recorder.page_url = url
            progress(f"{PASS_LABELS[name]}: {url}")
            if visit(page, url, options, errors):
                recorder.snapshot(page)
        add_pass(observation, name, recorder.result())


def add_pass(observation: dict[str, Any], name: str, result: dict[str, list]) -> None:
    seen = observation["passes"].setdefault(name, {"cookies": [], "storage": [], "requests": []})
    for kind, items in result.items():
        seen[kind].extend(items)


# --- the scan ---------------------------------------------------------------------------------

@contextlib.contextmanager
def chromium(browser: Browser | None, proxy: str | None = None) -> Iterator[Browser]:
    """The given browser, or Debian's Chromium launched for this scan, sandboxed (every
    connection through ``proxy`` when given, loopback included: Chromium bypasses
    proxies for it unless told "<-loopback>")."""
    if browser is not None:
        yield browser
        return
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=SANDBOXED_CHROMIUM, args=CHROMIUM_FLAGS, chromium_sandbox=True,
            proxy={"server": proxy, "bypass": "<-loopback>"} if proxy else None)
        try:
            yield launched
        finally:
            launched.close()


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def scan(urls: list[str], options: ScanOptions | None = None, progress: Progress | None = None,
         browser: Browser | None = None, prepare_context: PrepareContext | None = None,
         proxy: str | None = None) -> dict[str, Any]:
    """Scan each start URL and the same-site pages it links to. ``prepare_context`` is
    called on every new browser context (tests route third-party hosts with it); with
    ``proxy``, a Chromium of the scan's own connects only through it (guard)."""
    options = options or ScanOptions()
    progress = progress or (lambda _message: None)
    observation: dict[str, Any] = {
        "started_at": now(), "urls": list(urls), "depth": options.depth,
        "max_pages": options.max_pages, "pages": [], "banners": [], "passes": {}, "errors": [],
    }
    visited: set[str] = set()
    with chromium(browser, proxy) as running:
        for start in urls:
            pages, banner = first_pass(running, start, options, visited, observation,
                                       prepare_context, progress)
            observation["pages"] += [without_query(page) for page in pages]
            observation["banners"].append(banner)
            if not (banner["found"] and pages):
                continue
            for name in ("reject", "accept", "withdraw"):
                choice_pass(running, name, pages, banner, options, observation,
                            prepare_context, progress)
    observation["finished_at"] = now()
    return observation
