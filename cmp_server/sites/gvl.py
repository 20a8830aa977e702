"""IAB Europe's Global Vendor List (TCF v2.3, GVL specification version 3): fetch it,
check it, keep every version.

The operator's scheduler runs ``flask cmp gvl-fetch`` daily: it reads vendor-list.json
from CMP_TCF_GVL_URL (an operator setting, never a marketer's) and the translations of its
purposes, ``purposes-<lang>.json`` in the same folder, for the banner's languages. A
document that is not a GVL v3 is refused with the field and the reason, and nothing is
stored. A site freezes the newest stored version when it is published (sites/tcf.py)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy.exc import IntegrityError

from cmp_server.banner.strings import BANNER_LANGUAGES
from cmp_server.models import GlobalVendorList
from cmp_server.platform.errors import ServiceError
from cmp_server.platform.extensions import db

SPECIFICATION_VERSION = 3
MAX_BYTES = 16 * 1024 * 1024  # IAB's vendor-list.json is a few MB; anything far bigger is not it
TIMEOUT_SECONDS = 30
USER_AGENT = "cmp-server GVL fetcher (self-hosted consent management platform)"
MAX_ERRORS = 50  # a broken document is reported by its first problems, not all of them
# the sections a purposes-<lang>.json translates, as the GVL names them
TRANSLATED = ("purposes", "specialPurposes", "features", "specialFeatures", "stacks",
              "dataCategories")
# IAB names its translation files by lowercase codes; where ours differ, the IAB codes to
# try, first found wins (English is the GVL's own language, so it has no file to fetch)
IAB_CODES = {"pt": ("pt-pt", "pt-br"), "nb": ("no",), "zh-Hans": ("zh",), "zh-Hant": ()}
VENDOR_LISTS = {  # a vendor's list fields and the GVL section their ids refer to
    "purposes": "purposes", "legIntPurposes": "purposes", "flexiblePurposes": "purposes",
    "specialPurposes": "specialPurposes", "features": "features",
    "specialFeatures": "specialFeatures",
}

Progress = Callable[[str], None]


def translation_files() -> dict[str, tuple[str, ...]]:
    """Each banner language IAB may translate, and the file codes to try for it."""
    return {language: IAB_CODES.get(language, (language.lower(),))
            for language in BANNER_LANGUAGES if language != "en"}


# --- checking ------------------------------------------------------------------------------

def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_url(value: Any) -> bool:
    parts = urlsplit(value) if isinstance(value, str) else None
    return parts is not None and parts.scheme in ("http", "https") and bool(parts.netloc)


def check_gvl(document: Any) -> dict[str, list[str]]:
    """Errors by field (``vendors.12.purposes``) of a GVL v3 document; {} when it is one."""
    if not isinstance(document, dict):
        return {"(document)": ["must be a JSON object: IAB's vendor-list.json"]}
    errors: dict[str, list[str]] = {}

    def error(field: str, reason: str) -> None:
        if len(errors) < MAX_ERRORS:
            errors.setdefault(field, []).append(reason)

    if document.get("gvlSpecificationVersion") != SPECIFICATION_VERSION:
        error("gvlSpecificationVersion", f"must be {SPECIFICATION_VERSION} (TCF v2.2 and "
              f"later), got {document.get('gvlSpecificationVersion')!r}")
    for field in ("vendorListVersion", "tcfPolicyVersion"):
        if not is_int(document.get(field)) or document[field] < 1:
            error(field, "required: a whole number from 1")
    if not isinstance(document.get("lastUpdated"), str) or not 1 <= len(document["lastUpdated"]) <= 40:
        error("lastUpdated", "required: a date and time as text")
    sections = {}
    for section in TRANSLATED:
        sections[section] = check_section(document.get(section), section, error)
    vendors = document.get("vendors")
    if not isinstance(vendors, dict):
        error("vendors", "required: an object of vendors by id")
    else:
        for key, vendor in vendors.items():
            check_vendor(key, vendor, sections, error)
    return errors


def check_section(entries: Any, section: str, error: Callable[[str, str], None]) -> set[int]:
    """A section's ids ({"1": {"id": 1, "name": ...}}); reports what is wrong."""
    if not isinstance(entries, dict):
        error(section, "required: an object of entries by id")
        return set()
    ids = set()
    for key, entry in entries.items():
        where = f"{section}.{key}"
        if not isinstance(entry, dict):
            error(where, "must be an object")
        elif not is_int(entry.get("id")) or str(entry["id"]) != key:
            error(f"{where}.id", "required: the entry's id, as its key says")
        elif not isinstance(entry.get("name"), str) or not entry["name"]:
            error(f"{where}.name", "required: the entry's name")
        else:
            ids.add(entry["id"])
    return ids


def check_vendor(key: str, vendor: Any, sections: dict[str, set[int]],
                 error: Callable[[str, str], None]) -> None:
    where = f"vendors.{key}"
    if not isinstance(vendor, dict):
        error(where, "must be an object")
        return
    if not is_int(vendor.get("id")) or str(vendor["id"]) != key:
        error(f"{where}.id", "required: the vendor's id, as its key says")
    if not isinstance(vendor.get("name"), str) or not vendor["name"]:
        error(f"{where}.name", "required: the vendor's name")
    deleted = "deletedDate" in vendor
    if deleted and not isinstance(vendor["deletedDate"], str):
        error(f"{where}.deletedDate", "must be a date and time as text")
    for field, section in VENDOR_LISTS.items():
        ids = vendor.get(field)
        if not isinstance(ids, list) or not all(is_int(i) for i in ids):
            if not deleted or field in vendor:
                error(f"{where}.{field}", f"required: a list of {section} ids")
        elif not deleted and (unknown := sorted(set(ids) - sections[section])):
            error(f"{where}.{field}", f"unknown {section} id(s): {unknown}")
    if deleted:
        return  # a vendor IAB took off the list keeps its id and name; the rest may be gone
    check_urls(where, vendor.get("urls"), error)
    check_retention(where, vendor.get("dataRetention"), error)
    declared = vendor.get("dataDeclaration")
    if not isinstance(declared, list) or not all(is_int(i) for i in declared):
        error(f"{where}.dataDeclaration", "required: a list of data category ids")
    max_age = vendor.get("cookieMaxAgeSeconds")
    if max_age is not None and (isinstance(max_age, bool) or not isinstance(max_age, (int, float))):
        error(f"{where}.cookieMaxAgeSeconds", "must be a number of seconds or null")
    for field in ("usesCookies", "usesNonCookieAccess"):
        if not isinstance(vendor.get(field), bool):
            error(f"{where}.{field}", "required: true or false")
    if "cookieRefresh" in vendor and not isinstance(vendor["cookieRefresh"], bool):
        error(f"{where}.cookieRefresh", "must be true or false")
    if not is_url(vendor.get("deviceStorageDisclosureUrl")):
        error(f"{where}.deviceStorageDisclosureUrl", "required: an http(s) address")


def check_urls(where: str, urls: Any, error: Callable[[str, str], None]) -> None:
    if not isinstance(urls, list) or not urls:
        error(f"{where}.urls", "required: a list of {langId, privacy, legIntClaim}")
        return
    for index, entry in enumerate(urls):
        at = f"{where}.urls[{index}]"
        if not isinstance(entry, dict):
            error(at, "must be an object: {langId, privacy, legIntClaim}")
            continue
        if not isinstance(entry.get("langId"), str) or not entry["langId"]:
            error(f"{at}.langId", "required: a language code")
        if not is_url(entry.get("privacy")):
            error(f"{at}.privacy", "required: the privacy policy's http(s) address")
        if "legIntClaim" in entry and not is_url(entry["legIntClaim"]):
            error(f"{at}.legIntClaim", "must be an http(s) address")


def check_retention(where: str, retention: Any, error: Callable[[str, str], None]) -> None:
    at = f"{where}.dataRetention"
    if not isinstance(retention, dict):
        error(at, "required: {stdRetention, purposes, specialPurposes}")
        return
    if "stdRetention" in retention and not (is_int(retention["stdRetention"])
                                            and retention["stdRetention"] >= 0):
        error(f"{at}.stdRetention", "must be a number of days")
    for field in ("purposes", "specialPurposes"):
        days = retention.get(field, {})
        if not isinstance(days, dict) or not all(is_int(v) and v >= 0 for v in days.values()):
            error(f"{at}.{field}", "must be an object of days by id")


def check_translation(language: str, document: Any) -> dict[str, list[str]]:
    """Errors of a purposes-<lang>.json: its sections must be objects of named entries."""
    if not isinstance(document, dict):
        return {f"translations.{language}": ["must be a JSON object"]}
    errors: dict[str, list[str]] = {}
    for section in TRANSLATED:
        entries = document.get(section, {})
        if not isinstance(entries, dict) or not all(
                isinstance(e, dict) and isinstance(e.get("name"), str) for e in entries.values()):
            errors[f"translations.{language}.{section}"] = ["must be an object of named entries"]
    return errors


def check_all(document: Any, translations: dict[str, Any]) -> None:
    """Raise a ServiceError naming every problem found (up to MAX_ERRORS)."""
    errors = check_gvl(document)
    for language, translated in translations.items():
        if language not in BANNER_LANGUAGES or language == "en":
            errors[f"translations.{language}"] = ["not one of the banner's languages"]
        else:
            errors.update(check_translation(language, translated))
    if errors:
        raise ServiceError(errors, "Not a Global Vendor List (version 3).")


# --- reading -------------------------------------------------------------------------------

class NotThere(Exception):
    """The server answered 404: the file does not exist (a language IAB does not translate)."""


def read_url(url: str, limit: int | None = None) -> bytes:
    """The body at URL (http or https only), at most LIMIT bytes; NotThere on a 404, a
    ServiceError naming the URL on any other failure."""
    limit = MAX_BYTES if limit is None else limit
    if urlsplit(url).scheme not in ("http", "https"):
        raise ServiceError({"url": [f"{url}: only http:// and https:// addresses are read"]})
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT,
                                                   "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            body = response.read(limit + 1)
    except urllib.error.HTTPError as failure:
        failure.close()
        if failure.code == 404:
            raise NotThere(url) from None
        raise ServiceError({"url": [f"{url}: the server answered {failure.code} {failure.reason}"]},
                           "Could not fetch the Global Vendor List.") from None
    except (urllib.error.URLError, OSError) as failure:
        reason = getattr(failure, "reason", failure)
        raise ServiceError({"url": [f"{url}: {reason}"]},
                           "Could not fetch the Global Vendor List.") from None
    if len(body) > limit:
        raise ServiceError({"url": [f"{url}: larger than {limit} bytes; not a vendor list"]},
                           "Could not fetch the Global Vendor List.")
    return body


def parse_json(data: bytes, source: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as failure:
        raise ServiceError({"(document)": [f"{source}: not JSON ({failure})"]},
                           "Not a Global Vendor List (version 3).") from None


def fetch_gvl(url: str, progress: Progress | None = None
              ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The GVL at URL and its translations ({language: purposes-<code>.json}) from the same
    folder, checked; a ServiceError if any file cannot be read or is not what it should
    be (a translation IAB does not have, a 404, is skipped)."""
    say = progress or (lambda message: None)
    try:
        body = read_url(url)
    except NotThere:
        raise ServiceError({"url": [f"{url}: the server answered 404 Not Found"]},
                           "Could not fetch the Global Vendor List.") from None
    document = parse_json(body, url)
    say(f"fetched {url} ({len(body)} bytes)")
    errors = check_gvl(document)
    if errors:
        raise ServiceError(errors, "Not a Global Vendor List (version 3).")
    folder = url.rsplit("/", 1)[0]
    translations = {}
    for language, codes in translation_files().items():
        for code in codes:
            address = f"{folder}/purposes-{code}.json"
            try:
                body = read_url(address)
            except NotThere:
                continue
            translations[language] = parse_json(body, address)
            say(f"fetched {address} ({language})")
            break
        else:
            say(f"no translation for {language}")
    check_all(document, translations)
    return document, translations


def load_gvl_dir(path: str | Path, progress: Progress | None = None
                 ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """fetch_gvl from a folder holding vendor-list.json and purposes-<code>.json files
    (a copy of IAB's, for a server that cannot reach IAB, and for tests)."""
    say = progress or (lambda message: None)
    folder = Path(path)
    main = folder / "vendor-list.json"
    if not main.is_file():
        raise ServiceError({"dir": [f"{folder} holds no vendor-list.json"]})
    document = parse_json(read_file(main), str(main))
    say(f"read {main}")
    translations = {}
    for language, codes in translation_files().items():
        for code in codes:
            file = folder / f"purposes-{code}.json"
            if file.is_file():
                translations[language] = parse_json(read_file(file), str(file))
                say(f"read {file} ({language})")
                break
    check_all(document, translations)
    return document, translations


def read_file(path: Path) -> bytes:
    if path.stat().st_size > MAX_BYTES:
        raise ServiceError({"dir": [f"{path}: larger than {MAX_BYTES} bytes; not a vendor list"]})
    return path.read_bytes()


# --- storing -------------------------------------------------------------------------------

def store_gvl(document: dict[str, Any], translations: dict[str, dict[str, Any]]
              ) -> tuple[GlobalVendorList, bool]:
    """Keep this GVL version (checked first: a ServiceError stores nothing), and whether it
    is new. A version already stored is left as it is."""
    check_all(document, translations)
    version = document["vendorListVersion"]
    stored = stored_version(version)
    if stored is not None:
        return stored, False
    row = GlobalVendorList(version=version, policy_version=document["tcfPolicyVersion"],
                           last_updated=document["lastUpdated"], document=document,
                           translations=translations)
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:  # another host stored it at the same moment
        db.session.rollback()
        return stored_version(version), False
    return row, True


def stored_version(version: int) -> GlobalVendorList | None:
    return db.session.execute(db.select(GlobalVendorList).filter_by(version=version)
                              ).scalar_one_or_none()


def latest_gvl() -> GlobalVendorList | None:
    """The newest stored version, or None before the first gvl-fetch."""
    return db.session.execute(db.select(GlobalVendorList)
                              .order_by(GlobalVendorList.version.desc()).limit(1)
                              ).scalar_one_or_none()


def latest_summary() -> dict[str, Any] | None:
    """The newest stored version, or None: {row_id, version, fetched_at, last_updated,
    document, translations, vendors: {int id: vendor}}. Each process keeps the newest one
    it has read (rows never change; a few MB, read by every draft page of a TCF site), so
    callers must treat it as read-only."""
    row = db.session.execute(
        db.select(GlobalVendorList.id, GlobalVendorList.version, GlobalVendorList.fetched_at,
                  GlobalVendorList.last_updated)
        .order_by(GlobalVendorList.version.desc()).limit(1)).first()
    if row is None:
        return None
    held = current_app.extensions.get("cmp_gvl")
    if held is None or held["row_id"] != row.id:
        document, translations = db.session.execute(
            db.select(GlobalVendorList.document, GlobalVendorList.translations)
            .filter_by(id=row.id)).one()
        held = {"row_id": row.id, "version": row.version, "fetched_at": row.fetched_at,
                "last_updated": row.last_updated, "document": document,
                "translations": translations,
                "vendors": {int(key): vendor for key, vendor in document["vendors"].items()}}
        current_app.extensions["cmp_gvl"] = held  # one assignment: safe between threads
    return held
