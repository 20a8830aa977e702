"""What every route speaks the same way: body limits and ETag matching.

The app-wide body limit is CMP_MAX_CONTENT_LENGTH; a route's own, lower limit is one of
these."""
from __future__ import annotations

from werkzeug.http import parse_etags, unquote_etag

CONSENT_BODY_LIMIT = 8 * 1024  # a consent is a few hundred bytes; 8 KiB leaves room for 500 vendors
API_BODY_LIMIT = 256 * 1024  # the largest body an API operation takes: a draft of 500 vendors
FORM_BODY_LIMIT = 16 * 1024  # a console or /my-consent/ form


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names ``etag`` (a quoted ETag), by the weak
    comparison RFC 9110 asks for on GET: ``W/"x"`` and ``"x"`` both match, ``*`` matches."""
    return parse_etags(if_none_match).contains_weak(unquote_etag(etag)[0])
