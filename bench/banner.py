"""`make bench`, the banner's part: how long from the moment cmp.js starts running to the
first layer being shown, on the demo page served by gunicorn, in Debian's Chromium, beside
CookieConsent v3 (vanilla-cookieconsent 3.1.0 from the npm registry, in the banner's
devDependencies) showing its consent modal on a page of its own over loopback.

Each load uses a fresh browser context (no cookie, no cache: the banner must ask), so the
time includes fetching the tag, the banner configuration and the modules the site needs
before its banner shows. CookieConsent needs no server: its configuration is in the page.
The baseline measured in the same run is each page's own DOMContentLoaded. Writes
bench/results/banner.md.
python -m bench.banner [--loads 30]
"""
from __future__ import annotations

import argparse
import functools
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from playwright.sync_api import sync_playwright

from bench import publish
from bench.api import say
from cmp_server.scanner.browser import CHROMIUM, CHROMIUM_FLAGS
from harness.server import free_port, prepare, start_server

# When each banner shows, seen from the page (the same way for both): ours when its dialog
# in #cmp-root's shadow root loses `hidden`, CookieConsent when it marks <html> with
# show--consent. "Script" is the moment the banner's script had arrived (its resource
# timing's responseEnd): it runs from then on.
WATCH = """(() => {
  const seen = () => { if (!window.__shown) window.__shown = performance.now(); };
  const ours = () => {
    const root = document.getElementById('cmp-root');
    if (!root || !root.shadowRoot || root.__watched) return;
    root.__watched = true;
    const check = () => { const d = root.shadowRoot.getElementById('cmp-banner'); if (d && !d.hidden) seen(); };
    new MutationObserver(check).observe(root.shadowRoot, {subtree: true, childList: true, attributes: true});
    check();
  };
  new MutationObserver(() => {
    ours();
    if (document.documentElement.classList.contains('show--consent')) seen();
  }).observe(document, {subtree: true, childList: true, attributes: true});
})();"""
MEASURE = """script => {
  const [loaded] = performance.getEntriesByType('resource').filter(e => e.name.includes(script));
  const nav = performance.getEntriesByType('navigation')[0];
  return {start: loaded.responseEnd, shown: window.__shown, dcl: nav.domContentLoadedEventEnd};
}"""
COOKIECONSENT = Path(__file__).resolve().parent.parent / "static/banner/node_modules/vanilla-cookieconsent/dist"
# CookieConsent's own marks: as its script starts, and when its modal shows (onModalShow)
COOKIECONSENT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>CookieConsent v3</title>
<link rel="stylesheet" href="cookieconsent.css">
</head><body><h1>A page with CookieConsent v3</h1>
<!-- at the end of the body, as its documentation places it (it needs document.body) -->
<script src="cookieconsent.umd.js"></script>
<script>
CookieConsent.run({
  hideFromBots: false,  // its default hides it from a browser driven by Playwright
  categories: {necessary: {enabled: true, readOnly: true}, analytics: {}, marketing: {}},
  language: {default: 'en', translations: {en: {
    consentModal: {title: 'Your privacy choices', description: 'We use cookies.',
                   acceptAllBtn: 'Accept all', acceptNecessaryBtn: 'Reject all',
                   showPreferencesBtn: 'Customise'},
    preferencesModal: {title: 'Privacy settings', acceptAllBtn: 'Accept all',
                       acceptNecessaryBtn: 'Reject all', savePreferencesBtn: 'Save my choices',
                       sections: [{title: 'Analytics', description: 'Measure use.',
                                   linkedCategory: 'analytics'}]}}}}
});
</script>
</body></html>
"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def serve_cookieconsent(directory: Path) -> tuple[ThreadingHTTPServer, str]:
    """CookieConsent's page and files from a loopback HTTP server of their own."""
    for name in ("cookieconsent.umd.js", "cookieconsent.css"):
        shutil.copy(COOKIECONSENT / name, directory / name)
    (directory / "index.html").write_text(COOKIECONSENT_PAGE)
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/index.html"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def measure(url: str, loads: int, script: str = "/banner/cmp.js") -> dict[str, list[float]]:
    found: dict[str, list[float]] = {"start_to_shown": [], "navigation_to_shown": [], "dcl": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        for index in range(loads + 3):
            context = browser.new_context()
            context.add_init_script(WATCH)
            page = context.new_page()
            page.goto(url)
            page.wait_for_function("window.__shown > 0")
            marks_seen = page.evaluate(MEASURE, script)
            context.close()
            if index < 3:
                continue  # warm-up: server caches, Chromium's own start-up
            found["start_to_shown"].append(marks_seen["shown"] - marks_seen["start"])
            found["navigation_to_shown"].append(marks_seen["shown"])
            found["dcl"].append(marks_seen["dcl"])
        browser.close()
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=30)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="cmp-bench-banner-"))
    env = {**os.environ, "CMP_SECRET_KEYS": "bench-secret-key",
           "CMP_INSTANCE_PATH": str(workdir / "instance")}
    port = free_port()
    _, base = prepare(env, port)
    server = start_server(env, port, workdir / "gunicorn.log")
    other, other_url = serve_cookieconsent(workdir)
    try:
        say(f"[banner] {args.loads} loads of {base}/demo/ in Chromium, each in a fresh context")
        found = measure(f"{base}/demo/", args.loads)
        say(f"[banner] {args.loads} loads of CookieConsent v3 3.1.0's page, the same way")
        theirs = measure(other_url, args.loads, "cookieconsent.umd.js")
    finally:
        server.terminate()
        server.wait(timeout=30)
        other.shutdown()
    rows = ["| measure | ours: median ms | p95 ms | CookieConsent v3: median ms | p95 ms |",
            "|---|---:|---:|---:|---:|"]
    labels = {"start_to_shown": "script arrived → first layer shown",
              "navigation_to_shown": "navigation start → first layer shown",
              "dcl": "baseline: navigation start → DOMContentLoaded"}
    for key, label in labels.items():
        rows.append(f"| {label} | {statistics.median(found[key]):.1f} | "
                    f"{percentile(found[key], 0.95):.1f} | {statistics.median(theirs[key]):.1f} | "
                    f"{percentile(theirs[key], 0.95):.1f} |")
    header = (f"{os.cpu_count()} CPUs, Debian Chromium headless, demo page over loopback from "
              f"gunicorn, {args.loads} loads, {time.strftime('%Y-%m-%d')}")
    report = "\n".join(rows)
    publish("banner.md", header, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
