"""`make bench`, the banner's part: how long from the moment cmp.js starts running to the
first layer being shown, on the demo page served by gunicorn, in Debian's Chromium.

Each load uses a fresh browser context (no cookie: the banner must ask), so the time
includes fetching the banner configuration and the UI strings. The baseline measured in
the same run is the page's own DOMContentLoaded. Writes bench/results/banner.md.
python -m bench.banner [--loads 30]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from bench import publish
from bench.api import say
from cmp_server.scanner.browser import CHROMIUM, CHROMIUM_FLAGS
from harness.server import free_port, prepare, start_server

MEASURE = """() => {
  const [start] = performance.getEntriesByName('cmp:start');
  const [shown] = performance.getEntriesByName('cmp:shown');
  const nav = performance.getEntriesByType('navigation')[0];
  return {start: start.startTime, shown: shown.startTime, dcl: nav.domContentLoadedEventEnd};
}"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(url: str, loads: int) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {"start_to_shown": [], "navigation_to_shown": [], "dcl": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        for index in range(loads + 3):
            context = browser.new_context()
            page = context.new_page()
            page.goto(url)
            page.wait_for_function("performance.getEntriesByName('cmp:shown').length > 0")
            marks = page.evaluate(MEASURE)
            context.close()
            if index < 3:
                continue  # warm-up: server caches, Chromium's own start-up
            found["start_to_shown"].append(marks["shown"] - marks["start"])
            found["navigation_to_shown"].append(marks["shown"])
            found["dcl"].append(marks["dcl"])
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
    try:
        say(f"[banner] {args.loads} loads of {base}/demo/ in Chromium, each in a fresh context")
        found = measure(f"{base}/demo/", args.loads)
    finally:
        server.terminate()
        server.wait(timeout=30)
    rows = ["| measure | median ms | p95 ms |", "|---|---:|---:|"]
    labels = {"start_to_shown": "cmp.js start → first layer shown",
              "navigation_to_shown": "navigation start → first layer shown",
              "dcl": "baseline: navigation start → DOMContentLoaded"}
    for key, label in labels.items():
        rows.append(f"| {label} | {statistics.median(found[key]):.1f} | "
                    f"{percentile(found[key], 0.95):.1f} |")
    header = (f"{os.cpu_count()} CPUs, Debian Chromium headless, demo page over loopback from "
              f"gunicorn, {args.loads} loads, {time.strftime('%Y-%m-%d')}")
    report = "\n".join(rows)
    publish("banner.md", header, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
