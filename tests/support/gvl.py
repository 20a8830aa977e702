"""A small Global Vendor List in IAB Europe's v3 format (vendor-list.json and
purposes-de.json), for tests of the GVL fetch, the TCF settings and the banner's TCF module.

    write_test_gvl(folder)                          # version 3, vendors 1, 2, 8, 10, 21
    write_test_gvl(folder, version=4, vendors=[1, 2, 755], deleted=[2], languages=("de", "fr"))
"""
from __future__ import annotations

import functools
import json
import threading
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterable, Iterator

PURPOSES = {
    1: "Store and/or access information on a device",
    2: "Use limited data to select advertising",
    3: "Create profiles for personalised advertising",
    4: "Use profiles to select personalised advertising",
    5: "Create profiles to personalise content",
    6: "Use profiles to select personalised content",
    7: "Measure advertising performance",
    8: "Measure content performance",
    9: "Understand audiences through statistics or combinations of data from different sources",
    10: "Develop and improve services",
    11: "Use limited data to select content",
}
SPECIAL_PURPOSES = {1: "Ensure security, prevent and detect fraud, and fix errors",
                    2: "Deliver and present advertising and content",
                    3: "Save and communicate privacy choices"}
FEATURES = {1: "Match and combine data from other data sources",
            2: "Link different devices", 3: "Identify devices based on information transmitted automatically"}
SPECIAL_FEATURES = {1: "Use precise geolocation data",
                    2: "Actively scan device characteristics for identification"}
DATA_CATEGORIES = {1: "IP addresses", 2: "Device characteristics", 3: "Device identifiers",
                   4: "Probabilistic identifiers", 5: "Authentication-derived identifiers"}
GERMAN = {1: "Speichern von oder Zugriff auf Informationen auf einem Endgerät",
          2: "Verwendung reduzierter Daten zur Auswahl von Werbeanzeigen"}
DEFAULT_VENDORS = (1, 2, 8, 10, 21)
VENDOR_NAMES = {1: "Exponential Interactive, Inc d/b/a VDX.tv", 2: "Captify Technologies Limited",
                8: "Emerse Sverige AB", 10: "Index Exchange Inc.", 21: "The Trade Desk",
                755: "Google Advertising Products"}


def entries(names: dict[int, str], language: str = "en") -> dict[str, dict]:
    return {str(i): {"id": i, "name": name if language == "en" else f"[{language}] {name}",
                     "description": f"What {name.lower()} means.",
                     "illustrations": []} for i, name in names.items()}


def vendor(vendor_id: int, deleted: bool = False) -> dict:
    """A vendor as IAB lists it: consent purposes 1-4, legitimate interest for 7 and 10."""
    entry = {
        "id": vendor_id,
        "name": VENDOR_NAMES.get(vendor_id, f"Vendor {vendor_id} Ltd"),
        "purposes": [1, 2, 3, 4],
        "legIntPurposes": [7, 10],
        "flexiblePurposes": [2, 7],
        "specialPurposes": [1, 2],
        "features": [1, 3],
        "specialFeatures": [] if vendor_id % 2 else [1],
        "cookieMaxAgeSeconds": 31536000,
        "usesCookies": True,
        "cookieRefresh": False,
        "usesNonCookieAccess": False,
        "deviceStorageDisclosureUrl": f"https://vendor{vendor_id}.example/devicestorage.json",
        "dataRetention": {"stdRetention": 365, "purposes": {"3": 180}, "specialPurposes": {}},
        "urls": [{"langId": "en", "privacy": f"https://vendor{vendor_id}.example/privacy",
                  "legIntClaim": f"https://vendor{vendor_id}.example/legitimate-interest"}],
        "dataDeclaration": [1, 2, 3],
    }
    if deleted:
        entry["deletedDate"] = "2026-06-01T00:00:00Z"
    return entry


def gvl_document(version: int = 3, vendors: Iterable[int] = DEFAULT_VENDORS,
             deleted: Iterable[int] = ()) -> dict:
    """The vendor-list.json document."""
    deleted = set(deleted)
    return {
        "gvlSpecificationVersion": 3,
        "vendorListVersion": version,
        "tcfPolicyVersion": 5,
        "lastUpdated": f"2026-12-{min(version, 28):02d}T16:05:24Z",
        "purposes": entries(PURPOSES),
        "specialPurposes": entries(SPECIAL_PURPOSES),
        "features": entries(FEATURES),
        "specialFeatures": entries(SPECIAL_FEATURES),
        "stacks": {"1": {"id": 1, "name": "Precise geolocation data, and identification "
                                          "through device scanning",
                         "description": "Precise geolocation and information about device "
                                        "characteristics can be used.",
                         "purposes": [], "specialFeatures": [1, 2]}},
        "dataCategories": entries(DATA_CATEGORIES),
        "vendors": {str(i): vendor(i, i in deleted) for i in sorted(set(vendors) | deleted)},
    }


def translation_document(version: int, language: str) -> dict:
    """A purposes-<language>.json document (German texts where we have them)."""
    purposes = entries(PURPOSES, language)
    if language == "de":
        for i, name in GERMAN.items():
            purposes[str(i)]["name"] = name
    return {
        "gvlSpecificationVersion": 3, "vendorListVersion": version, "tcfPolicyVersion": 5,
        "lastUpdated": f"2026-12-{min(version, 28):02d}T16:05:24Z",
        "purposes": purposes, "specialPurposes": entries(SPECIAL_PURPOSES, language),
        "features": entries(FEATURES, language),
        "specialFeatures": entries(SPECIAL_FEATURES, language),
        "stacks": {"1": {"id": 1, "name": f"[{language}] stack", "description": "…"}},
        "dataCategories": entries(DATA_CATEGORIES, language),
    }


def write_test_gvl(folder: str | Path, version: int = 3, vendors: Iterable[int] = DEFAULT_VENDORS,
                   deleted: Iterable[int] = (), languages: Iterable[str] = ("de",)) -> Path:
    """Write vendor-list.json and purposes-<lang>.json (IAB's lowercase file codes, e.g.
    "de", "pt-pt", "zh") into FOLDER; returns vendor-list.json's path. DELETED vendors are
    listed with a deletedDate."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "vendor-list.json"
    path.write_text(json.dumps(gvl_document(version, vendors, deleted)), encoding="utf-8")
    for language in languages:
        (folder / f"purposes-{language}.json").write_text(
            json.dumps(translation_document(version, language), ensure_ascii=False), encoding="utf-8")
    return path


@contextmanager
def serve_folder(folder: str | Path, handler_class: type | None = None) -> Iterator[str]:
    """FOLDER over real HTTP on loopback (a missing file is a 404); yields the base URL.
    HANDLER_CLASS (a QuietHandler subclass) answers otherwise, e.g. as a CDN does."""
    handler = functools.partial(handler_class or QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    user_agents: list[str] = []  # what each request called itself, for the tests

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        QuietHandler.user_agents.append(self.headers.get("User-Agent", ""))
