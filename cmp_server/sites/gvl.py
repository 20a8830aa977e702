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
from http import HTTPStatus
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
STACK_LISTS = ("purposes", "specialFeatures")  # a stack's lists of ids, named as the sections
ENTRY_TEXTS = ("name", "description", "illustrations")  # what a translation translates
STACK_TEXTS = ("name", "description")

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


def collector() -> tuple[dict[str, list[str]], Callable[[str, str], None]]:
    """An empty {field: [reasons]} and the function that adds to it (up to MAX_ERRORS fields)."""
    errors: dict[str, list[str]] = {}

    def error(field: str, reason: str) -> None:
        if field in errors or len(errors) < MAX_ERRORS:
            errors.setdefault(field, []).append(reason)

    return errors, error


def check_gvl(document: Any) -> dict[str, list[str]]:
    """Errors by field (``vendors.12.purposes``) of a GVL v3 document; {} when it is one."""
    if not isinstance(document, dict):
        return {"(document)": ["must be a JSON object: IAB's vendor-list.json"]}
    errors, error = collector()
    if document.get("gvlSpecificationVersion") != SPECIFICATION_VERSION:
        error("gvlSpecificationVersion", f"must be {SPECIFICATION_VERSION} (TCF v2.2 and "
              f"later), got {document.get('gvlSpecificationVersion')!r}")
    for field in ("vendorListVersion", "tcfPolicyVersion"):
        if not is_int(document.get(field)) or document[field] < 1:
            error(field, "required: a whole number from 1")
    if not isinstance(document.get("lastUpdated"), str) or not 1 <= len(document["lastUpdated"]) <= 40:
        error("lastUpdated", "required: a date and time as text")
    sections: dict[str, set[int]] = {}
    for section in TRANSLATED:  # stacks after the purposes and special features they name
        sections[section] = check_section(document.get(section), section, sections, error)
    vendors = document.get("vendors")
    if not isinstance(vendors, dict):
        error("vendors", "required: an object of vendors by id")
    else:
        for key, vendor in vendors.items():
            check_vendor(key, vendor, sections, error)
    return errors


def check_ids(at: str, ids: Any, section: str, known: set[int],
              error: Callable[[str, str], None]) -> None:
    """IDS must be a list of ids of the GVL's SECTION (KNOWN)."""
    if not isinstance(ids, list) or not all(is_int(i) for i in ids):
        error(at, f"required: a list of {section} ids")
    elif unknown := sorted(set(ids) - known):
        error(at, f"unknown {section} id(s): {unknown}")


def check_texts(at: str, entry: dict[str, Any], error: Callable[[str, str], None],
                required: bool = True) -> None:
    """An entry's name (text, not empty), description (text) and illustrations (a list of
    texts, never required); REQUIRED says whether name and description must be there."""
    if "name" in entry or required:
        if not isinstance(entry.get("name"), str) or not entry["name"]:
            error(f"{at}.name", "required: the entry's name" if required else "must be text")
    if "description" in entry or required:
        if not isinstance(entry.get("description"), str):
            error(f"{at}.description", "required: the entry's description" if required
                  else "must be text")
    if "illustrations" in entry:
        shown = entry["illustrations"]
        if not isinstance(shown, list) or not all(isinstance(text, str) for text in shown):
            error(f"{at}.illustrations", "must be a list of texts")


def check_section(entries: Any, section: str, sections: dict[str, set[int]],
                  error: Callable[[str, str], None]) -> set[int]:
    """A section's ids ({"1": {"id": 1, "name": ...}}); reports what is wrong. Every entry
    has its id, a name and a description (illustrations optional); a stack also lists the
    purposes and special features it groups (SECTIONS: the ids checked so far)."""
    if not isinstance(entries, dict):
        error(section, "required: an object of entries by id")
        return set()
    ids = set()
    for key, entry in entries.items():
        where = f"{section}.{key}"
        if not isinstance(entry, dict):
            error(where, "must be an object")
            continue
        if not is_int(entry.get("id")) or str(entry["id"]) != key:
            error(f"{where}.id", "required: the entry's id, as its key says")
        else:
            ids.add(entry["id"])
        check_texts(where, entry, error)
        if section == "stacks":
            for field in STACK_LISTS:
                check_ids(f"{where}.{field}", entry.get(field), field, sections.get(field, set()),
                          error)
    return ids


# What IAB requires of a vendor (GVL specification version 3, TCF v2.2 and later): its id
# (as its key says), its name and the six lists of ids in VENDOR_LISTS; everything else is
# optional and checked only when it is there (IAB leaves fields out of real entries, e.g.
# usesNonCookieAccess or deviceStorageDisclosureUrl). That is IAB's own library's
# ``Vendor`` type: @iabtechlabtcf/core (@iabtcf/core's successor) declares id, name,
# purposes, legIntPurposes, flexiblePurposes, specialPurposes, features and specialFeatures,
# and marks optional usesCookies, cookieMaxAgeSeconds (a number or null), cookieRefresh,
# usesNonCookieAccess, deviceStorageDisclosureUrl, deletedDate, overflow, dataRetention,
# urls and dataDeclaration (and policyUrl, which v3 no longer has). The @iabtcf/core 1.5.6
# the banner bundles predates v3 (it still requires policyUrl and lacks urls,
# dataRetention and dataDeclaration), so it is not the reference here. A vendor IAB took off
# the list (deletedDate) keeps its id and name; the rest may be gone.
VENDOR_FLAGS = ("usesCookies", "usesNonCookieAccess", "cookieRefresh")  # true or false


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
        if deleted:  # the lists a deleted vendor still has are lists of ids, any ids
            ids = vendor.get(field, [])
            if not isinstance(ids, list) or not all(is_int(i) for i in ids):
                error(f"{where}.{field}", f"required: a list of {section} ids")
        else:
            check_ids(f"{where}.{field}", vendor.get(field), section, sections[section], error)
    if deleted:
        return
    if "urls" in vendor:
        check_urls(where, vendor["urls"], error)
    if "dataRetention" in vendor:
        check_retention(where, vendor["dataRetention"], error)
    if "dataDeclaration" in vendor:
        declared = vendor["dataDeclaration"]
        if not isinstance(declared, list) or not all(is_int(i) for i in declared):
            error(f"{where}.dataDeclaration", "must be a list of data category ids")
    if "cookieMaxAgeSeconds" in vendor:
        max_age = vendor["cookieMaxAgeSeconds"]
        if max_age is not None and (isinstance(max_age, bool)
                                    or not isinstance(max_age, (int, float))):
            error(f"{where}.cookieMaxAgeSeconds", "must be a number of seconds or null")
    for field in VENDOR_FLAGS:
        if field in vendor and not isinstance(vendor[field], bool):
            error(f"{where}.{field}", "must be true or false")
    if "deviceStorageDisclosureUrl" in vendor and not is_url(vendor["deviceStorageDisclosureUrl"]):
        error(f"{where}.deviceStorageDisclosureUrl", "must be an http(s) address")
    if "overflow" in vendor:
        overflow = vendor["overflow"]
        if not isinstance(overflow, dict) or ("httpGetLimit" in overflow
                                              and not is_int(overflow["httpGetLimit"])):
            error(f"{where}.overflow", "must be an object: {httpGetLimit: a whole number}")


def check_urls(where: str, urls: Any, error: Callable[[str, str], None]) -> None:
    """A vendor's privacy policies by language (IAB allows an empty list)."""
    if not isinstance(urls, list):
        error(f"{where}.urls", "must be a list of {langId, privacy, legIntClaim}")
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
        error(at, "must be an object: {stdRetention, purposes, specialPurposes}")
        return
    if "stdRetention" in retention and not (is_int(retention["stdRetention"])
                                            and retention["stdRetention"] >= 0):
        error(f"{at}.stdRetention", "must be a number of days")
    for field in ("purposes", "specialPurposes"):
        days = retention.get(field, {})
        if not isinstance(days, dict) or not all(is_int(v) and v >= 0 for v in days.values()):
            error(f"{at}.{field}", "must be an object of days by id")


def check_translation(language: str, document: Any, vendor_list: Any = None
                      ) -> dict[str, list[str]]:
    """Errors of a purposes-<lang>.json, against the GVL document (VENDOR_LIST) it
    translates. Each of its sections is an object of entries whose keys the GVL's same
    section has; an entry carries only texts: name, description and illustrations (a
    stack: name and description), of the GVL's types, since a translation translates and
    never changes what IAB's list says. An entry may repeat its own id, and a stack its own
    purposes and special features, as IAB's files do; anything else is refused by name."""
    if not isinstance(document, dict):
        return {f"translations.{language}": ["must be a JSON object"]}
    errors, error = collector()
    vendor_list = vendor_list if isinstance(vendor_list, dict) else {}
    for section in TRANSLATED:
        where = f"translations.{language}.{section}"
        entries = document.get(section, {})
        if not isinstance(entries, dict):
            error(where, "must be an object of entries by id")
            continue
        originals = vendor_list.get(section)
        originals = originals if isinstance(originals, dict) else {}
        texts = STACK_TEXTS if section == "stacks" else ENTRY_TEXTS
        for key, entry in entries.items():
            at = f"{where}.{key}"
            if key not in originals:
                error(at, f"not in the Global Vendor List's {section}")
                continue
            if not isinstance(entry, dict):
                error(at, "must be an object")
                continue
            check_texts(at, {field: entry[field] for field in texts if field in entry}, error,
                        required=False)
            original = originals[key] if isinstance(originals[key], dict) else {}
            for field, value in entry.items():
                if field in texts:
                    continue
                if field == "id" or (section == "stacks" and field in STACK_LISTS):
                    if value != original.get(field) or isinstance(value, bool):
                        error(f"{at}.{field}", f"must be the Global Vendor List's own {field}: "
                              "a translation changes texts only")
                else:
                    error(f"{at}.{field}", "not allowed: a translation carries only "
                          + " and ".join(", ".join(texts).rsplit(", ", 1)))
    return errors


def check_all(document: Any, translations: dict[str, Any]) -> None:
    """Raise a ServiceError naming every problem found (up to MAX_ERRORS)."""
    errors = check_gvl(document)
    for language, translated in translations.items():
        if language not in BANNER_LANGUAGES or language == "en":
            errors[f"translations.{language}"] = ["not one of the banner's languages"]
        else:
            errors.update(check_translation(language, translated, document))
    if errors:
        raise ServiceError(errors, "Not a Global Vendor List (version 3).")


# --- reading -------------------------------------------------------------------------------

# the answers that mean "no such file": 404, and 403, which some CDNs and object stores
# (Amazon S3, CloudFront) give for an object that does not exist
NOT_THERE = (403, 404)


class NotThere(Exception):
    """The server answered 404 or 403 (NOT_THERE): the file does not exist (a language IAB
    does not translate)."""

    def __init__(self, url: str, code: int, reason: str) -> None:
        super().__init__(url, code, reason)
        self.url, self.code, self.reason = url, code, reason


def read_url(url: str, limit: int | None = None) -> bytes:
    """The body at URL (http or https only), at most LIMIT bytes; NotThere on a 404 or a
    403, a ServiceError naming the URL on any other failure."""
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
        if failure.code in NOT_THERE:
            raise NotThere(url, failure.code, HTTPStatus(failure.code).phrase) from None
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
    be (a translation IAB does not have, answered 404 or 403, is skipped; any other
    failure, a 500 or a timeout, stops the fetch so that no partial set is stored)."""
    say = progress or (lambda message: None)
    try:
        body = read_url(url)
    except NotThere as missing:  # the GVL itself must be there
        raise ServiceError({"url": [f"{url}: the server answered {missing.code} {missing.reason}"]},
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
