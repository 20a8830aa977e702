"""Who is calling, and may they: the caller (console session or API token), roles, CSRF
and login throttling.

- Console pages use Flask's signed session cookie (HttpOnly, SameSite=Lax, Secure unless
  CMP_SECURE_COOKIES=0) and a CSRF token that every form posts back.
- The admin and compliance APIs take `Authorization: Bearer <token>`; a browser session
  works there too, with the CSRF token in an X-CSRF-Token header for writes.
- Roles are per workspace (cmp_server.workspaces): admin may do everything there,
  marketer and compliance their own parts; an operator manages workspaces and users.
- Failed logins are counted in the database (so every worker sees them) under keyed
  hashes of the e-mail address and of the client address, never the values themselves.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
from datetime import timedelta
from typing import Callable

from flask import abort, current_app, redirect, request, session, url_for
from werkzeug.exceptions import Forbidden, TooManyRequests, Unauthorized

from cmp_server.accounts import sessions, workspaces
from cmp_server.accounts.tokens import hash_token
from cmp_server.accounts.users import check_password, find_user, spend_password_check
from cmp_server.models import OPERATOR, ApiToken, LoginFailure, User, utcnow
from cmp_server.platform.errors import ServiceError
from cmp_server.platform.extensions import db
from cmp_server.platform.geo import client_ip, client_key

FAILURE_WINDOW = timedelta(minutes=15)
# Failures count per account *and client*, and per client: a stranger who knows an e-mail
# address locks only themselves out of it, never its owner; a client guessing across
# accounts is stopped by its own count. (A guesser with many addresses gets 5 tries per
# address and 15 minutes against one account, each costing an Argon2 verification.)
MAX_FAILURES_PER_ACCOUNT_AND_CLIENT = 5
MAX_FAILURES_PER_CLIENT = 20


# --- login ------------------------------------------------------------------------------------

def keyed(kind: str, value: str) -> str:
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def throttle_keys(email: str) -> list[tuple[str, int]]:
    client = client_key(client_ip(request, current_app.config["CMP_TRUSTED_PROXY_HOPS"]))
    account = email.strip().lower()
    return [(keyed("account+client", f"{account} {client}"), MAX_FAILURES_PER_ACCOUNT_AND_CLIENT),
            (keyed("client", client), MAX_FAILURES_PER_CLIENT)]


def check_throttle(keys: list[tuple[str, int]]) -> None:
    since = utcnow() - FAILURE_WINDOW
    for key, limit in keys:
        failures = db.session.query(LoginFailure).filter(
            LoginFailure.key == key, LoginFailure.at > since).count()
        if failures >= limit:
            raise TooManyRequests("Too many failed logins: wait 15 minutes and try again.",
                                  retry_after=int(FAILURE_WINDOW.total_seconds()))


def authenticate(email: str, password: str) -> User:
    """The user, or ServiceError; raises TooManyRequests while throttled."""
    keys = throttle_keys(email)
    check_throttle(keys)
    user = find_user(email)
    # an unknown e-mail costs the same Argon2 work as a known one: timing tells nothing
    known = check_password(user, password) if user else spend_password_check(password)
    if user is None or not user.active or not known:
        db.session.add_all([LoginFailure(key=key) for key, _ in keys])
        db.session.commit()
        raise ServiceError({"password": ["wrong e-mail or password"]}, "Login failed.")
    db.session.query(LoginFailure).filter(LoginFailure.key == keys[0][0]).delete()
    db.session.commit()
    return user


# --- who is calling ---------------------------------------------------------------------------


def bearer_user() -> User | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    token = db.session.execute(
        db.select(ApiToken).filter_by(token_hash=hash_token(header[7:].strip()))
    ).scalar_one_or_none()
    if token is None or token.revoked_at is not None or not token.user.active:
        raise Unauthorized("The API token is unknown or revoked.")
    token.last_used_at = utcnow()
    db.session.commit()
    request.cmp_via_token = True
    return token.user


def current_user() -> User | None:
    """The caller, looked up once per request (kept on the request, not on g: an app
    context can outlive a request)."""
    if not hasattr(request, "cmp_user"):
        user = bearer_user()
        if user is None:
            record = sessions.current_session()
            user = record.user if record is not None and record.user.active else None
        request.cmp_user = user
    return request.cmp_user


def allowed(user: User, roles: tuple[str, ...]) -> bool:
    """Whether the user may open a page or route for ``roles`` at all: an operator always,
    a member holding one of them in some workspace (which of its objects they reach is
    the workspace check's business: workspaces.can)."""
    if user.operator or not roles:  # no roles named: any logged-in user
        return True
    if OPERATOR in roles:
        return False
    return any(workspaces.role_allows(m.role, roles) for m in user.memberships)


def check_csrf() -> None:
    """Writes from a browser session must carry the session's CSRF token."""
    if request.method in ("GET", "HEAD", "OPTIONS") or getattr(request, "cmp_via_token", False):
        return
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent, expected):
        abort(400, description="Missing or wrong CSRF token: reload the page and try again.")


def page_for(*roles: str) -> Callable:
    """Console pages: anonymous callers go to the login page, the wrong role gets 403."""
    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            user = current_user()
            if user is None:
                return redirect(url_for("console.login", next=request.full_path))
            if not allowed(user, roles):
                raise Forbidden(f"This page is for the {' or '.join(roles)} role.")
            check_csrf()
            return view(*args, **kwargs)
        wrapper.cmp_roles = roles  # read by the access tests, which try every route
        return wrapper
    return decorator


def api_for(*roles: str) -> Callable:
    """API endpoints: anonymous callers get 401, the wrong role 403."""
    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            user = current_user()
            if user is None:
                raise Unauthorized("Log in, or send Authorization: Bearer <API token>.")
            if not allowed(user, roles):
                raise Forbidden(f"This endpoint is for the {' or '.join(roles)} role.")
            check_csrf()
            return view(*args, **kwargs)
        wrapper.cmp_roles = roles
        return wrapper
    return decorator


# --- API tokens -------------------------------------------------------------------------------


# --- collection tokens: a site's servers recording consents ------------------------------------


