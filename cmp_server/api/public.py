"""The public API the banner talks to: configuration, consents, receipt verification.

Every view validates with marshmallow, calls one service function and shapes the answer.
Errors share one shape: {"code", "status", "message", "errors"}.
"""
from __future__ import annotations

import re

from flask import Request, Response, abort, current_app, request
from flask_smorest import Blueprint
from werkzeug.exceptions import TooManyRequests, UnprocessableEntity
from marshmallow import fields, validate
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from cmp_server.platform.http import CONSENT_BODY_LIMIT, etag_matches
from cmp_server.banner import document
from cmp_server.banner.assets import module_paths
from cmp_server.consent import analytics, receipts, sync
from cmp_server.platform import geo, rate_limit
from cmp_server.sites import registry, sightings, versions
from cmp_server.platform.languages import LANGUAGE_TAG, negotiate
from cmp_server.platform.schemas import StrictSchema
from cmp_server.platform.extensions import db

SITE_KEY = re.compile(receipts.SITE_KEY)

blp = Blueprint("public_api", __name__, url_prefix="/api/v1",
                description="What the banner calls: configuration, consents, verification.")

RATE_CHECKED = "cmp.rate_limit_wait"
CONSENT_SCHEMA = receipts.ConsentSchema()  # an instance: built once, not per request
BANNER_MAX_AGE = 60
BANNER_CACHE = f"private, max-age={BANNER_MAX_AGE}"


LANG_PARAMETER = {
    "in": "query", "name": "lang", "required": False,
    "schema": {"type": "string", "maxLength": 35, "pattern": LANGUAGE_TAG.pattern},
    "description": "Preferred language (BCP 47); else Accept-Language, else the site "
                   "default. The answer's language is one the banner speaks.",
}


def lang_argument(request: Request) -> str | None:
    """The banner GET's one query parameter, checked by hand: this is the hottest
    endpoint, and a schema instance per request costs more than the rest of the view.
    Raises UnprocessableEntity for a bad or unknown parameter."""
    if not request.query_string:
        return None
    lang = request.args.get("lang")
    # a page's <html lang> goes here as it is: long tags with extensions are well-formed too
    if lang is not None and (len(lang) > 100 or not LANGUAGE_TAG.match(lang)):
        error = UnprocessableEntity("The request's parameters are invalid.")
        error.errors = {"query": {"lang": ["must be a language tag such as sv or nb-NO"]}}
        raise error
    if len(request.args) > (lang is not None):
        extra = set(request.args) - {"lang"}
        error = UnprocessableEntity("The request's parameters are invalid.")
        error.errors = {"query": {name: ["Unknown field."] for name in sorted(extra)}}
        raise error
    return lang


class BannerPurpose(StrictSchema):
    id = fields.String(required=True)
    required = fields.Boolean(required=True, metadata={"description": "Always on."})
    name = fields.String(required=True)
    description = fields.String(required=True)


class BannerVendor(StrictSchema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    company = fields.String(required=True)
    description = fields.String(required=True, allow_none=True, metadata={
        "description": "null when the catalogue has none in this language (the banner shows "
                       "one language)."})
    purposes = fields.List(fields.String(), required=True, metadata={
        "description": "It runs only if every one of these is allowed."})
    legal_basis = fields.String(required=True)
    policy_url = fields.String(required=True)
    hosts = fields.List(fields.String(), required=True)
    retention_months = fields.Integer(required=True, allow_none=True)
    hosting = fields.Dict(required=True)
    cookies = fields.List(fields.Dict(), required=True, metadata={
        "description": "name, storage, domain, lifetime; pattern (the regular expression a "
                       "glob name is matched with); description in English only."})


class BannerSchema(StrictSchema):
    """What GET .../banner answers: every member is always there."""

    site = fields.String(required=True)
    version = fields.Integer(required=True)
    hash = fields.String(required=True)
    language = fields.String(required=True, metadata={
        "description": "The one language of every text: the visitor's best among those the "
                       "site can show every text in."})
    dir = fields.String(required=True, metadata={"enum": ["ltr", "rtl"]})
    languages = fields.List(fields.String(), required=True, metadata={
        "description": "The languages this version can show every text in."})
    region = fields.String(required=True, allow_none=True)
    mode = fields.String(required=True, metadata={"enum": ["opt-in", "opt-out", "none"]})
    consent_lifetime_months = fields.Integer(required=True)
    refusal_lifetime_months = fields.Integer(required=True)
    controller = fields.Dict(required=True)
    policy_url = fields.String(required=True)
    purposes = fields.List(fields.Nested(BannerPurpose), required=True)
    vendors = fields.List(fields.Nested(BannerVendor), required=True)
    texts = fields.Dict(required=True, keys=fields.String(), values=fields.String(), metadata={
        "description": "The site's own rewrites of the banner's texts, in this language."})
    strings = fields.Dict(required=True, keys=fields.String(), values=fields.String(), metadata={
        "description": "Every text of the banner in this language: its own wording with the "
                       "site's rewrites (the tag carries none)."})
    theme = fields.Dict(required=True, keys=fields.String(), values=fields.String())
    google_consent_mode = fields.Dict(required=True, metadata={
        "description": "mode (basic or advanced), ads_data_redaction, url_passthrough, "
                       "granted_regions (region defaults: granted where nobody is asked "
                       "first) and vendors (those whose tags read Consent Mode)."})
    consent_signals = fields.Dict(required=True, keys=fields.String(),
                                  values=fields.List(fields.String()), metadata={
        "description": "Each consent signal the site's vendors' tags read (google_consent_mode, "
                       "microsoft_uet, microsoft_clarity) and those vendors."})
    modules = fields.Dict(required=True, keys=fields.String(), values=fields.String(), metadata={
        "description": "The tag's modules by name, each at its path on this server (the tag "
                       "loads one only where it is needed: settings, the settings layer; "
                       "embeds, the click-to-load placeholders; button, data-button's "
                       "button; and those in load)."})
    load = fields.List(fields.String(), required=True, metadata={
        "description": "The modules this site's banner needs before it acts: theme (dark "
                       "mode, layouts beyond the default box), google, microsoft (the "
                       "consent signals of its vendors), tcf (IAB TCF)."})
    show = fields.List(fields.String(), required=True, metadata={
        "description": "Those of load the first layer shows (theme, tcf): a visitor asked "
                       "first waits for these only."})
    tcf = fields.Dict(metadata={
        "description": "Only for a site with IAB TCF on: cmp_id, cmp_version, applies (TCF "
                       "applies where the visitor is asked first), language, publisher_cc, "
                       "gvl (IAB's Global Vendor List limited to the site's vendors, its texts "
                       "in this language), google_atps (Google's ad technology providers "
                       "outside the GVL) and strings (the TCF layers' texts)."})
    consent_scope = fields.List(fields.String(), required=True)
    stale = fields.List(fields.String(), required=True, metadata={
        "description": "First 8 characters of the newest receipt ids (1,000 at most) whose "
                       "tokens a browser may still hold after the ledger moved on without it "
                       "(changed on /my-consent/, through the API, or erased): a banner "
                       "holding one asks POST /receipts/current."})
    stale_before = fields.Integer(required=True, allow_none=True, metadata={
        "description": "When more receipts are stale than the list holds: a token made "
                       "(claim t, epoch milliseconds) before this time may be stale too, and its "
                       "banner asks POST /receipts/current."})


class RecordedSchema(StrictSchema):
    receipt = fields.Dict(required=True, metadata={
        "description": "The receipt as recorded in the ledger."})
    token = fields.String(required=True, metadata={
        "description": "Signed receipt token for the cmp_consent cookie."})


class VerifyRequest(StrictSchema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=4096))
    # any string is accepted here: a malformed token is an answer ("valid": false), not an error


class CurrentAnswer(StrictSchema):
    token = fields.String(required=True, allow_none=True, metadata={
        "description": "A token of the subject's newest receipt, for the cmp_consent cookie; "
                       "null when there is none to hold."})
    receipt_id = fields.String()
    state = fields.String(metadata={"enum": ["given", "refused", "withdrawn"]})
    reason = fields.String(metadata={"enum": ["expired", "erased"],
                                     "description": "Why token is null: ask the visitor again."})


class VerifyAnswer(StrictSchema):
    valid = fields.Boolean(required=True)
    status = fields.String(metadata={"enum": ["active", "expired", "superseded", "withdrawn"]})
    reason = fields.String()
    receipt = fields.Dict()
    kantara = fields.Dict(metadata={
        "description": "The receipt as a Kantara Consent Receipt v1.1 document, with the "
                       "ISO/IEC TS 27560 additions under iso27560."})


@blp.before_request
def limit_posts():
    if request.method == "POST":
        wait = over_rate_limit(request)
        if wait is not None:
            raise TooManyRequests(
                f"More than {current_app.config['CMP_RATE_LIMIT_PER_MINUTE']} requests a "
                f"minute from this client; try again in {wait} s.", retry_after=wait)
        request.max_content_length = CONSENT_BODY_LIMIT
        if request.content_length is not None and request.content_length > CONSENT_BODY_LIMIT:
            abort(413, description=f"The body is larger than {CONSENT_BODY_LIMIT} bytes.")
        if request.content_length and request.mimetype != "application/json":
            abort(415, description="Send the body as application/json.")


def over_rate_limit(request: Request) -> int | None:
    """Count this POST against its client's budget (rate_limit); the seconds to wait when
    it is over. Counted once per request, also when the hot path hands it to the view."""
    environ = request.environ
    if RATE_CHECKED not in environ:
        limiter = rate_limit.for_app(current_app)
        hops = current_app.config.get("CMP_TRUSTED_PROXY_HOPS", 0)
        environ[RATE_CHECKED] = (limiter.retry_after(geo.client_key(geo.client_ip(request, hops)))
                                 if limiter else None)
    return environ[RATE_CHECKED]


def ordinary_json_body(request: Request) -> bool:
    """A JSON body of a declared length within the POST limit: what limit_posts lets
    through, and all the hot path takes."""
    length = request.content_length
    return (length is not None and 0 < length <= CONSENT_BODY_LIMIT
            and request.mimetype == "application/json")


@blp.after_request
def cors(response: Response) -> Response:
    for name, value in cors_headers(request.headers.get("Origin"), request.method,
                                    getattr(request, "cmp_cors_site", None),
                                    response.headers.get("Vary")):
        response.headers[name] = value
    if getattr(request, "cmp_origin_refused", False):
        # the page may read why it was refused (and nothing else: the answer is the error)
        response.headers["Access-Control-Allow-Origin"] = request.headers["Origin"]
    return response


def refuse_unregistered_origin(site_key: str, request: Request) -> None:
    """A browser's banner GET from a page of an origin the site did not register: a 403
    the tag can read, saying which origin and where to register it (the tag logs it), so a
    site owner sees more than the browser's bare CORS error."""
    origin = request.headers.get("Origin")
    if origin is None or registered(origin, site_key):
        return
    request.cmp_origin_refused = True
    try:
        sightings.refused(site_key, origin)  # the console shows where the tag was tried
    except SQLAlchemyError:  # the database down, or two workers evicting the same row
        db.session.rollback()
    abort(403, description=(
        f"The origin {origin} is not registered for site {site_key}, so the banner does not "
        f"answer there: add it to the site's origins (console: the site's Settings, or "
        f"PATCH /api/v1/admin/sites/{site_key} with \"origins\")."))


def registered(origin: str, site_key: str | None) -> bool:
    """sites.origin_allowed, False while the database cannot say (its 503 then goes out
    without CORS headers rather than turning into a 500 here)."""
    try:
        return registry.origin_allowed(origin, site_key)
    except OperationalError:
        return False


def cors_headers(origin: str | None, method: str, site_key: str | None,
                 vary: str | None = None, allowed: bool | None = None) -> list[tuple[str, str]]:
    """Allow exactly the origins registered for the site in question; for a preflight or a
    call that names no site, any origin registered for some site. ALLOWED: whether the
    origin is registered, when the caller already asked."""
    headers = [("Vary", f"{vary}, Origin" if vary else "Origin")]
    if allowed is None:
        allowed = bool(origin) and registered(origin, site_key)
    if allowed:
        headers.append(("Access-Control-Allow-Origin", origin))
        if method == "OPTIONS":
            headers += [("Access-Control-Allow-Methods", "GET, POST"),
                        ("Access-Control-Allow-Headers", "Content-Type, If-None-Match"),
                        ("Access-Control-Max-Age", "86400")]
        headers.append(("Access-Control-Expose-Headers", "ETag"))
    return headers


@blp.route("/sites/<site_key>/banner")
@blp.doc(parameters=[LANG_PARAMETER])
# documented with alt_response rather than wrapped by @blp.response: the view builds its
# own cacheable Response, and the wrapper would cost a tenth of the request on a cache hit
@blp.alt_response(200, schema=BannerSchema, description="The banner configuration.")
@blp.alt_response(304, description="Not modified: the ETag still matches.")
@blp.alt_response(403, description="From a page of an origin the site did not register: "
                                    "the message names the origin and where to register it.")
@blp.alt_response(404, description="Unknown site, or nothing published yet.")
def banner_config(site_key: str):
    """The published configuration for this visitor's language and region.

    Cacheable: strong ETag (304 on If-None-Match), Cache-Control, Vary. The region comes
    from the client address, which is looked up and never stored.
    """
    request.cmp_cors_site = site_key
    answer = banner_answer(site_key, lang_argument(request), request)
    if answer is None:
        abort(404, description=f"Site {site_key!r} is unknown or has no published configuration.")
    refuse_unregistered_origin(site_key, request)
    status, headers, body = answer
    return Response(body, status=status, headers=headers)


def banner_answer(site_key: str, lang: str | None, request: Request):
    """(status, headers, body) of a successful banner GET (200, or 304 when the ETag
    matches), or None when the site has nothing published. The view's, and the hot
    path's (cmp_server.api.hot_path), which answers it beneath Flask's dispatch."""
    ref = versions.published_ref(site_key) if SITE_KEY.match(site_key) else None
    if ref is None:
        return None
    headers = request.headers
    language = negotiate(lang, headers.get("Accept-Language"), None, document.site_languages(ref))
    rendered = document.with_stale(
        document.render(ref, language, geo.region_for_request(request), module_paths()),
        sync.stale_list(site_key))
    cache = [("ETag", rendered.etag), ("Cache-Control", BANNER_CACHE), ("Vary", "Accept-Language")]
    if etag_matches(headers.get("If-None-Match"), rendered.etag):
        return 304, cache, b""
    return 200, cache + [("Content-Type", "application/json")], rendered.body


@blp.route("/consents", methods=["POST"])
@blp.arguments(CONSENT_SCHEMA)
@blp.response(201, RecordedSchema)
@blp.alt_response(403, description="No Origin and no collection token, an Origin the site "
                                    "did not register, or a collection token refused.")
@blp.alt_response(413, description="Body over 8 KiB.")
@blp.alt_response(415, description="Body not application/json.")
@blp.doc(security=[{}, {"collectionToken": []}])
def record_consent(data):
    """Record a visitor's choice; answered only once the record is durable.

    Browsers (the banner) send it from one of the site's registered origins. A site's own
    server records without an Origin, with one of the site's collection tokens in
    `Authorization: Bearer cmpc_...` (made by a marketer: POST
    /api/v1/admin/sites/{key}/collection-tokens); its receipts have collection method
    "api".

    On a first visit send neither token nor subject_id: the server creates the subject.
    Later choices send the visitor's current token, which proves the subject: the new
    receipt then follows the subject's newest one, whichever of its tokens was sent. A
    token past its expiry, or of a subject whose records were erased, proves nothing and
    the choice starts a new subject. subject_id is accepted only beside a token of that
    subject. Withdrawal is action "withdraw" with the token.
    """
    request.cmp_cors_site = data["site"]
    return Response(consent_body(data, request), status=201, mimetype="application/json")


def consent_body(data: dict, request: Request) -> bytes:
    """Record a choice loaded by CONSENT_SCHEMA; the 201 body. The view's, and the hot
    path's."""
    recorded = receipts.record_validated(
        data, geo.region_for_request(request), request.headers.get("Origin"),
        request.headers.get("Authorization"),
    )
    # built here rather than through RecordedSchema: the receipt is already JSON, exactly
    # as stored, and the token is URL-safe base64 (nothing in it needs escaping)
    return f'{{"receipt":{recorded.canonical},"token":"{recorded.token}"}}'.encode("utf-8")


@blp.route("/receipts/verify", methods=["POST"])
@blp.arguments(VerifyRequest())
@blp.response(200, VerifyAnswer)
def verify_receipt(data):
    """Whether a receipt token is genuine, and whether its consent is still active."""
    return receipts.verify_token(data["token"])


@blp.route("/receipts/current", methods=["POST"])
@blp.arguments(VerifyRequest())
@blp.response(200, CurrentAnswer)
@blp.alt_response(403, description="The request's Origin is not registered for the site.")
def current_receipt(data):
    """What the visitor's browser should hold now: a token of the newest receipt of the
    token's subject, or none (with the reason) when that subject's consent expired or its
    records were erased. The banner asks only when its configuration lists its receipt as
    stale (changed on /my-consent/, through the API, or erased)."""
    claims = receipts.token_claims(data["token"])
    request.cmp_cors_site = claims["k"]
    origin = request.headers.get("Origin")
    if origin is not None:  # a browser: the banner on one of the site's pages
        receipts.require_origin(claims["k"], origin, "")
    return receipts.current_state(claims)


@blp.route("/sites/<site_key>/impressions", methods=["POST"])
@blp.alt_response(204, description="Counted.")
@blp.alt_response(403, description="Not from one of the site's registered origins.")
@blp.alt_response(404, description="Unknown site, or nothing published yet.")
def count_impression(site_key: str):
    """The banner asked (or told) a visitor: one more for today. No body, no visitor data.
    Counted only from the site's registered origins (browsers send Origin)."""
    request.cmp_cors_site = site_key
    if not SITE_KEY.match(site_key) or versions.published_ref(site_key) is None:
        abort(404, description=f"Site {site_key!r} is unknown or has no published configuration.")
    receipts.require_origin(site_key, request.headers.get("Origin"),
                            "missing: impressions are counted only from the site's pages")
    analytics.count_impression(site_key, request.headers["Origin"])
    return Response(status=204)
