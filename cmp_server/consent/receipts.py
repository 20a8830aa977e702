"""Consent receipts: turning a visitor's choice into a signed, durable record.

A receipt is a plain JSON document (fields as in docs/architecture.md, Receipts). It is appended to the ledger
and committed before the caller answers; the visitor's browser gets it as an
itsdangerous-signed token. Tokens carry what the banner needs to apply the choice without
asking the server (receipt id, subject, site, version, expiry, grants); the ledger stays
the authority on whether a receipt is still active.
"""
from __future__ import annotations

import re
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from flask import current_app
from itsdangerous import BadData, BadSignature, Signer, URLSafeSerializer
from itsdangerous.encoding import base64_decode, base64_encode
from marshmallow import fields, validate
from sqlalchemy.exc import IntegrityError

from consent_logs.group_commit import GroupCommit
from consent_logs.timeutil import add_months, parse_utc, utc_iso
from consent_logs import kantara
from cmp_server.consent import sync
from cmp_server.consent.gpp_choice import GppSchema, gpp_record
from cmp_server.consent.tcf_choice import TcfSchema, grants_anything, tcf_record
from cmp_server.consent.tcf_choice import retention_months as tcf_retention_months
from cmp_server.accounts.tokens import collection_token_problem
from cmp_server.sites.versions import VersionRef, consent_scope, published_content, published_ref
from cmp_server.platform.errors import Conflict, ServiceError
from cmp_server.platform.extensions import db
from cmp_server.platform.geo import Region
from cmp_server.platform.languages import LANGUAGE_TAG
from cmp_server.models import Site, ledger
from cmp_server.sites.registry import origin_allowed
from cmp_server.platform.schemas import StrictBoolean, StrictSchema, validated

RECORD_FORMAT = 1
TOKEN_SALT = "cmp-receipt-v1"
LEGAL_BASIS_CONSENT = "GDPR Art. 6(1)(a)"
ACTIONS = ("accept_all", "reject_all", "custom", "withdraw", "gpc")
COLLECTION_METHODS = ("first_layer", "settings_layer", "gpc_signal", "api", "placeholder")
DEFAULT_METHOD = {
    "accept_all": "first_layer", "reject_all": "first_layer", "custom": "settings_layer",
    "withdraw": "settings_layer", "gpc": "gpc_signal",
}
SUBJECT_ID = r"^[A-Za-z0-9_-]{16,64}$"
SITE_KEY = r"^[A-Za-z0-9_-]{1,32}$"
TOKEN = r"^[A-Za-z0-9_.-]{1,4096}$"  # URL-safe base64 parts joined by dots
MAX_VERSION = 2**31 - 1


class ConsentSchema(StrictSchema):
    """The body of POST /api/v1/consents."""

    site = fields.String(required=True, validate=validate.Regexp(
        SITE_KEY, error="must be a site key: 1 to 32 URL-safe characters"))
    config_version = fields.Integer(strict=True, required=True,
                                    validate=validate.Range(min=1, max=MAX_VERSION))
    subject_id = fields.String(validate=validate.Regexp(
        SUBJECT_ID, error="must be 16 to 64 URL-safe characters, as the server issued it"))
    action = fields.String(required=True, validate=validate.OneOf(ACTIONS))
    purposes = fields.Dict(keys=fields.String(validate=validate.Length(max=64)),
                           values=StrictBoolean(), validate=validate.Length(max=50))
    vendors = fields.Dict(keys=fields.String(validate=validate.Length(max=64)),
                          values=StrictBoolean(), validate=validate.Length(max=500))
    language = fields.String(required=True, validate=[
        validate.Length(max=35), validate.Regexp(LANGUAGE_TAG, error="must be a language tag such as sv or nb-NO")])
    gpc = StrictBoolean(load_default=False)
    collection_method = fields.String(validate=validate.OneOf(COLLECTION_METHODS))
    token = fields.String(validate=validate.Regexp(TOKEN, error="malformed: not a receipt token"))
    tcf = fields.Nested(TcfSchema)  # a TCF site's strings (cmp_server.consent.tcf_choice)
    gpp = fields.Nested(GppSchema)  # a US visitor's GPP string (cmp_server.consent.gpp_choice)


class OriginRefused(ServiceError):
    status = 403


@dataclass
class Recorded:
    receipt: dict[str, Any]
    token: str
    canonical: str  # the receipt's canonical JSON, as the ledger stores it


# --- time --------------------------------------------------------------------------------

def now_utc() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


# --- tokens --------------------------------------------------------------------------------

class KeyCachingSigner(Signer):
    """itsdangerous's Signer, deriving each key once instead of on every call (a token
    is signed on every consent)."""

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        derived = self.__dict__.setdefault("_derived", {})
        if secret_key not in derived:
            derived[secret_key] = super().derive_key(secret_key)
        return derived[secret_key]


class TokenSerializer(URLSafeSerializer):
    """base64url(JSON claims) "." base64url(signature), never compressed, so the banner can
    read its own cookie with atob() and JSON.parse() (the server still verifies). Signers
    are made once per salt (itsdangerous makes one per call)."""

    signer = KeyCachingSigner

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(self.serializer.dumps(obj, **self.serializer_kwargs).encode("utf-8"))

    def make_signer(self, salt: str | bytes | None = None) -> Signer:
        signers = self.__dict__.setdefault("_signers", {})
        if salt not in signers:
            signers[salt] = super().make_signer(salt)
        return signers[salt]


def serializer() -> URLSafeSerializer:
    """One serializer per key list (building one derives keys: not per request)."""
    keys = tuple(current_app.config["CMP_SECRET_KEYS"])
    cache = current_app.extensions.setdefault("cmp_token_serializers", {})
    if keys not in cache:
        # itsdangerous signs with the last key of the list and verifies with all of them;
        # CMP_SECRET_KEYS lists the signing key first.
        cache[keys] = TokenSerializer(list(reversed(keys)), salt=TOKEN_SALT,
                                      serializer_kwargs={"separators": (",", ":")})
    return cache[keys]


def token_for(receipt: dict[str, Any], scope: list[str] | None = None) -> str:
    """The cookie token. Claims: r receipt id, s subject id, k site key, v config version,
    st state, e expiry (epoch seconds), t when the token was made (epoch milliseconds: the
    banner compares it with the configuration's stale_before), p granted purposes, g granted vendors, q the
    consent scope of that version ("purpose:x", "vendor:y"), so the banner can tell when a
    newer version needs consent for something this choice never covered."""
    expires = parse_utc(receipt["expires_at"])
    return serializer().dumps({
        "t": int(time.time() * 1000),
        "r": receipt["receipt_id"],
        "s": receipt["subject_id"],
        "k": receipt["site"],
        "v": receipt["config_version"],
        "st": receipt["state"],
        "e": int(expires.timestamp()),
        "p": sorted(p for p, granted in receipt["purposes"].items() if granted),
        "g": sorted(v for v, granted in receipt["vendors"].items() if granted),
        "q": scope or [],
    })


class InvalidToken(Exception):
    """Why a token cannot be trusted, in words for the caller."""


def canonical_signature(token: str) -> bool:
    """Whether the signature is spelled the one way its bytes encode: its last base64
    character also carries unused bits, and a token with those changed is not ours."""
    signature = token.rsplit(".", 1)[1]
    return base64_encode(base64_decode(signature)).decode("ascii") == signature


def read_token(token: str) -> dict[str, Any]:
    if not re.match(TOKEN, token):
        raise InvalidToken("malformed: not a receipt token")
    try:
        claims = serializer().loads(token)
    except BadSignature as error:
        if getattr(error, "payload", None) is None and "." not in token:
            raise InvalidToken("malformed: not a receipt token") from None
        raise InvalidToken("signature does not match any of this server's keys") from None
    except BadData:
        raise InvalidToken("malformed: the token is truncated or not a receipt token") from None
    if not canonical_signature(token):
        raise InvalidToken("signature does not match any of this server's keys")
    if not isinstance(claims, dict) or not isinstance(claims.get("r"), str):
        raise InvalidToken("malformed: the token carries no receipt id")
    return claims


def token_claims(token: str) -> dict[str, Any]:
    """read_token for a token sent as input: a ServiceError naming the field."""
    try:
        return read_token(token)
    except InvalidToken as error:
        raise ServiceError({"token": [str(error)]}) from None


# --- recording ----------------------------------------------------------------------------

LEDGER_WRITER = "cmp_ledger_writer"


def init_app(app) -> None:
    """The process's ledger writer: concurrent request threads share durable commits
    (consent_logs.group_commit), each one statement on the writer's own connection
    (consent_logs.writer)."""
    with app.app_context():
        engine = db.engine
    app.extensions[LEDGER_WRITER] = GroupCommit(ledger, ledger.writer(engine))


class Caller(str, Enum):
    """Who records a choice: the banner in the visitor's browser (it sends Origin), a
    server of the site with one of its collection tokens, or the visitor on their own
    /my-consent/ page. Only the banner updates the browser's cookie itself."""

    BROWSER = "browser"
    SERVER = "server"
    SELF_SERVICE = "self-service"


NO_CALLER = ("missing: a consent comes from a browser on one of the site's registered "
             "origins, or from a server with one of the site's collection tokens "
             "(Authorization: Bearer ...)")


def check_caller(site_key: str, origin: str | None, authorization: str | None) -> Caller:
    """A browser's Origin must be one the site registered; a call without one must carry
    a collection token of that site. Raises OriginRefused (403) naming the reason."""
    if authorization:
        problem = collection_token_problem(authorization, site_key)
        if problem:
            raise OriginRefused({"authorization": [problem]}, "Collection token refused.")
        return Caller.SERVER
    require_origin(site_key, origin, NO_CALLER)
    return Caller.BROWSER


def require_origin(site_key: str, origin: str | None, missing: str) -> None:
    """The request must come from a page on one of the site's registered origins."""
    if origin is None:
        raise OriginRefused({"origin": [missing]}, "Origin required.")
    if not origin_allowed(origin, site_key):
        raise OriginRefused({"origin": [f"{origin!r} is not registered for site {site_key!r}"]},
                            "Origin not allowed.")


def find_published(site_key: str, number: int) -> VersionRef:
    """The version the visitor was shown; the error names the field that is wrong."""
    ref = published_ref(site_key, number)
    if ref is not None:
        return ref
    if db.session.execute(db.select(Site.id).filter_by(key=site_key)).first() is None:
        raise ServiceError({"site": [f"unknown site {site_key!r}"]})
    raise ServiceError({"config_version": [f"version {number} was never published for this site"]})


def granted_maps(action: str, data: dict[str, Any], content: dict[str, Any]):
    """purposes and vendors, each id -> granted, for the whole published version."""
    purposes = {p["id"]: p for p in content["purposes"]}
    vendors = {v["id"]: v for v in content["vendors"]}
    if action != "custom":
        for field in ("purposes", "vendors"):
            if field in data:
                raise ServiceError({field: [f"not allowed with action {action!r}: the action decides"]})
        everything = action == "accept_all"
        return (
            {pid: everything or p["required"] for pid, p in purposes.items()},
            {vid: everything or v["legal_basis"] != "consent" for vid, v in vendors.items()},
        )
    errors: dict[str, list[str]] = {}
    chosen_p, chosen_v = data.get("purposes", {}), data.get("vendors", {})
    for pid, granted in chosen_p.items():
        if pid not in purposes:
            errors[f"purposes.{pid}"] = [f"unknown purpose {pid!r} in this version"]
        elif purposes[pid]["required"] and not granted:
            errors[f"purposes.{pid}"] = ["a strictly necessary purpose cannot be refused"]
    for vid, granted in chosen_v.items():
        if vid not in vendors:
            errors[f"vendors.{vid}"] = [f"unknown vendor {vid!r} in this version"]
        elif vendors[vid]["legal_basis"] != "consent" and not granted:
            errors[f"vendors.{vid}"] = ["a strictly necessary vendor cannot be refused"]
    if errors:
        raise ServiceError(errors)
    purpose_grants = {pid: p["required"] or chosen_p.get(pid, False) for pid, p in purposes.items()}
    vendor_grants = {}
    for vid, vendor in vendors.items():
        if vendor["legal_basis"] != "consent":
            vendor_grants[vid] = True
            continue
        granted = chosen_v.get(vid, False)
        refused = [p for p in vendor["purposes"] if not purpose_grants.get(p)]
        if granted and refused:
            errors[f"vendors.{vid}"] = [
                f"granted, but it needs every one of its purposes "
                f"({', '.join(vendor['purposes'])}) and {', '.join(refused)} is refused"
            ]
        vendor_grants[vid] = granted
    if errors:
        raise ServiceError(errors)
    return purpose_grants, vendor_grants


def state_for(action: str, purposes: dict[str, bool], content: dict[str, Any]) -> str:
    if action == "withdraw":
        return "withdrawn"
    optional = [p["id"] for p in content["purposes"] if not p["required"]]
    return "given" if any(purposes[p] for p in optional) else "refused"


@dataclass
class Continuity:
    subject_id: str
    previous_id: str | None  # the subject's newest record: the one this choice replaces
    presented_id: str | None  # the receipt of the token the caller sent, if it proved anything


def continuity(data: dict[str, Any], site_key: str, now: datetime) -> Continuity:
    """Whose history a choice joins. A subject is proven only by a valid, unexpired token
    of that subject whose history the ledger still holds; the choice then follows the
    subject's newest record, whichever of its tokens was sent, so the history never forks.
    Anything else starts a new subject: a bare subject id proves nothing."""
    token = data.get("token")
    if not token:
        if data.get("subject_id"):
            raise ServiceError({"subject_id": [
                "only with a token of that subject: a subject id alone proves nothing"]})
        if data["action"] == "withdraw":
            raise ServiceError({"token": ["required to withdraw: it names the consent withdrawn"]})
        return Continuity(new_subject_id(), None, None)
    claims = token_claims(token)
    if claims.get("k") != site_key:
        raise ServiceError({"token": ["belongs to another site"]})
    if data.get("subject_id") and data["subject_id"] != claims["s"]:
        raise ServiceError({"subject_id": ["does not match the token"]})
    newest = None
    if claims.get("e", 0) > now.timestamp():
        newest = ledger.newest_receipt_id(db.session.connection(), site_key, claims["s"])
    if newest is None:  # expired, or the subject's records are erased or purged
        if data["action"] == "withdraw":
            raise ServiceError({"token": ["expired or erased: there is no consent left to withdraw"]})
        return Continuity(new_subject_id(), None, None)
    return Continuity(claims["s"], newest, claims["r"])


def new_subject_id() -> str:
    return secrets.token_urlsafe(16)


def retention_for(receipt: dict[str, Any]) -> int:
    """How long this record must be kept after its consent ends: the longest retention of
    the vendors it justifies. A withdrawal proves the end of the consent it replaces, so it
    inherits that consent's retention."""
    months = list(receipt["vendor_retention_months"].values())
    if receipt["state"] == "withdrawn" and receipt["previous_receipt_id"]:
        previous = ledger.get(db.session.connection(), receipt["previous_receipt_id"])
        if previous:
            months += list(previous["vendor_retention_months"].values())
    return max(months, default=0)


def record_consent(payload: dict[str, Any], region: Region | None, origin: str | None,
                   authorization: str | None = None) -> Recorded:
    return record_validated(validated(ConsentSchema(), payload), region, origin, authorization)


def record_validated(data: dict[str, Any], region: Region | None, origin: str | None,
                     authorization: str | None = None,
                     caller: Caller | None = None) -> Recorded:
    """Record a choice already loaded by ConsentSchema. ``caller`` is given only by the
    platform's own pages (the visitor's /my-consent/); everyone else is checked."""
    site_key = data["site"]
    version = find_published(site_key, data["config_version"])
    caller = caller or check_caller(site_key, origin, authorization)
    method = collection_method(data, caller)
    content = published_content(version)
    if data["action"] == "gpc" and not data["gpc"]:
        raise ServiceError({"gpc": ["must be true for action 'gpc'"]})
    purposes, vendors = granted_maps(data["action"], data, content)
    tcf = tcf_record(data.get("tcf"), data["action"], content, data["language"])
    gpp = gpp_record(data.get("gpp"), content, region)
    state = state_for(data["action"], purposes, content)
    if state == "refused" and grants_anything(tcf):
        state = "given"
    if state == "withdrawn":
        purposes = {pid: p["required"] for pid, p in ((p["id"], p) for p in content["purposes"])}
        vendors = {v["id"]: v["legal_basis"] != "consent" for v in content["vendors"]}
    issued = now_utc()
    chain = continuity(data, site_key, issued)
    # the lifetimes the visitor was told, frozen in the version they saw
    lifetime = content["consent_lifetime_months" if state == "given" else "refusal_lifetime_months"]
    receipt = {
        "record_format": RECORD_FORMAT,
        "receipt_id": str(uuid.uuid4()),
        "subject_id": chain.subject_id,
        "site": site_key,
        "config_version": version.number,
        "config_hash": version.content_hash,
        "issued_at": utc_iso(issued),
        "expires_at": utc_iso(add_months(issued, lifetime)),
        "action": data["action"],
        "state": state,
        "purposes": purposes,
        "vendors": vendors,
        "vendor_retention_months": {
            **{v["id"]: v["retention_months"] for v in content["vendors"]
               if vendors[v["id"]] and v["legal_basis"] == "consent"},
            **tcf_retention_months(tcf, content.get("tcf")),
        },
        "legal_basis": LEGAL_BASIS_CONSENT,
        "language": data["language"].lower(),
        "region": region.code if region else None,
        "gpc": data["gpc"],
        "previous_receipt_id": chain.previous_id,
        "collection_method": method,
        **({"tcf": tcf} if tcf else {}),
        **({"gpp": gpp} if gpp else {}),
    }
    stored = append_to_chain(receipt)
    if caller is not Caller.BROWSER and receipt["previous_receipt_id"]:
        # the browser still holds a token of the old state: tell its banner (cmp_server.sync)
        sync.mark_stale(site_key, {receipt["previous_receipt_id"], chain.presented_id})
    return Recorded(receipt, token_for(receipt, sorted(consent_scope(content))), stored)


def collection_method(data: dict[str, Any], caller: Caller) -> str:
    if caller is Caller.BROWSER:
        return data.get("collection_method") or DEFAULT_METHOD[data["action"]]
    if data.get("collection_method", "api") != "api":
        raise ServiceError({"collection_method": ["must be 'api' for server-side collection"]})
    return "api"


CHAIN_ATTEMPTS = 20  # each lost attempt means another choice of the subject was stored


def append_to_chain(receipt: dict[str, Any]) -> str:
    """Append durably (the caller may answer 201 once this returns); the canonical JSON
    stored. When another choice of the same subject was appended first, the ledger's
    unique successor index refuses this one, and it is linked to that choice instead."""
    writer = current_app.extensions[LEDGER_WRITER]
    for attempt in range(CHAIN_ATTEMPTS):
        try:
            return writer.append(receipt, retention_for(receipt))
        except IntegrityError:
            previous = receipt["previous_receipt_id"]
            if previous is None:
                raise
            db.session.commit()  # end the read snapshot: see the record that came first
            newest = ledger.newest_receipt_id(db.session.connection(), receipt["site"],
                                              receipt["subject_id"])
            if newest in (None, previous):
                raise
            receipt["previous_receipt_id"] = newest
    raise Conflict({"token": ["other choices of this visitor were being recorded at the same "
                              "time; nothing was stored, send the choice again"]},
                   "Try again.")


# --- verification -------------------------------------------------------------------------

def status_of(receipt: dict[str, Any], now: datetime | None = None) -> str:
    """active, expired, superseded or withdrawn (ISO/IEC TS 27560 lifecycle)."""
    if receipt["state"] == "withdrawn":
        return "withdrawn"
    later = ledger.later_record(db.session.connection(), receipt)
    if later is not None:
        return "withdrawn" if later["state"] == "withdrawn" else "superseded"
    expires = parse_utc(receipt["expires_at"])
    return "expired" if expires <= (now or datetime.now(timezone.utc)) else "active"


def verify_token(token: str) -> dict[str, Any]:
    """The answer of POST /api/v1/receipts/verify."""
    try:
        claims = read_token(token)
    except InvalidToken as error:
        return {"valid": False, "reason": str(error)}
    receipt = ledger.get(db.session.connection(), claims["r"])
    if receipt is None:
        return {"valid": False, "reason": "no such receipt in the ledger (never recorded, or purged)"}
    return {"valid": True, "status": status_of(receipt), "receipt": receipt,
            "kantara": kantara.render(receipt, notice(receipt["site"], receipt["config_version"]))}


def current_state(claims: dict[str, Any]) -> dict[str, Any]:
    """The answer of POST /api/v1/receipts/current for a token's claims: a token of the
    subject's newest receipt (what the visitor's browser should hold now), or why there is
    none."""
    now = datetime.now(timezone.utc)
    newest = None
    if claims.get("e", 0) > now.timestamp():
        newest = ledger.newest(db.session.connection(), claims["k"], claims["s"])
        if newest is None:
            return {"token": None, "reason": "erased"}
    if newest is None or parse_utc(newest["expires_at"]) <= now:
        return {"token": None, "reason": "expired"}
    scope = consent_scope(notice(newest["site"], newest["config_version"]))
    return {"token": token_for(newest, sorted(scope)), "receipt_id": newest["receipt_id"],
            "state": newest["state"]}


def notice(site_key: str, number: int) -> dict[str, Any]:
    """The published configuration a visitor was shown: what a receipt names."""
    return published_content(find_published(site_key, number))
