"""Who is calling: console sessions, API tokens, roles, CSRF and login throttling.

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
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from flask import abort, current_app, redirect, request, session, url_for
from werkzeug.exceptions import Forbidden, TooManyRequests, Unauthorized

from cmp_server import audit, workspaces
from cmp_server.errors import NotFound, ServiceError
from cmp_server.extensions import db
from cmp_server.geo import client_ip, client_key
from cmp_server.models import (
    OPERATOR, ApiToken, CollectionToken, ConsoleSession, LoginFailure, Site, User, utcnow,
)
from consent_logs.timeutil import as_utc
from cmp_server.users import check_password, find_user, spend_password_check

FAILURE_WINDOW = timedelta(minutes=15)
SEEN_EVERY = timedelta(minutes=1)  # how often a session's last use is written down
# Failures count per account *and client*, and per client: a stranger who knows an e-mail
# address locks only themselves out of it, never its owner; a client guessing across
# accounts is stopped by its own count. (A guesser with many addresses gets 5 tries per
# address and 15 minutes against one account, each costing an Argon2 verification.)
MAX_FAILURES_PER_ACCOUNT_AND_CLIENT = 5
MAX_FAILURES_PER_CLIENT = 20
TOKEN_PREFIX = "cmpt_"
COLLECTION_TOKEN_PREFIX = "cmpc_"


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


def login_form_token() -> str:
    """The login form's CSRF token, kept in the (anonymous) session until a user logs in
    (log_in then starts a new session, with a new token)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def login_form_token_valid(sent: str) -> bool:
    expected = session.get("csrf", "")
    return bool(expected) and hmac.compare_digest(sent, expected)


def log_in(user: User) -> None:
    """A new session: its record on the server, its secret in the signed cookie."""
    secret = secrets.token_urlsafe(32)
    db.session.add(ConsoleSession(id=hash_token(secret), user_id=user.id,
                                  user_agent=request.headers.get("User-Agent", "")[:200]))
    session.clear()
    session["sid"] = secret
    session["csrf"] = secrets.token_urlsafe(24)
    session.permanent = True
    audit.record(user, "user.login", "user", user.id)
    db.session.commit()


def log_out() -> None:
    """End this session on the server too: a copy of the cookie is worth nothing after."""
    record = current_session()
    if record is not None:
        end_sessions([record], "logout")
    session.clear()


def end_sessions(records, because: str) -> int:
    """End the given sessions now; how many were still open."""
    now, ended = utcnow(), 0
    for record in records:
        if record.ended_at is None:
            record.ended_at, record.ended_because = now, because
            ended += 1
    db.session.commit()
    return ended


def open_sessions(user: User) -> list[ConsoleSession]:
    """The user's sessions that are neither ended nor past a limit, newest first."""
    records = db.session.execute(
        db.select(ConsoleSession).filter_by(user_id=user.id, ended_at=None)
        .order_by(ConsoleSession.created_at.desc())).scalars()
    return [record for record in records if session_limit_passed(record) is None]


def session_limit_passed(record: ConsoleSession) -> str | None:
    """"expired" past the absolute limit (PERMANENT_SESSION_LIFETIME), "idle" past
    CMP_SESSION_IDLE_MINUTES without a request, else None."""
    now = utcnow()
    lifetime = timedelta(seconds=current_app.config["PERMANENT_SESSION_LIFETIME"])
    idle = timedelta(minutes=current_app.config["CMP_SESSION_IDLE_MINUTES"])
    if as_utc(record.created_at) + lifetime <= now:
        return "expired"
    if as_utc(record.last_seen_at) + idle <= now:
        return "idle"
    return None


def current_session() -> ConsoleSession | None:
    """This request's open console session, its last use noted (at most once a minute)."""
    secret = session.get("sid")
    if not isinstance(secret, str):
        return None
    record = db.session.get(ConsoleSession, hash_token(secret))
    if record is None or record.ended_at is not None:
        return None
    passed = session_limit_passed(record)
    if passed:
        end_sessions([record], passed)
        return None
    if utcnow() - as_utc(record.last_seen_at) > SEEN_EVERY:
        record.last_seen_at = utcnow()
        db.session.commit()
    return record


# --- who is calling ---------------------------------------------------------------------------

def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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
            record = current_session()
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

@dataclass(frozen=True)
class NewSecret:
    """A token's secret, shown once, with what is stored of it."""

    name: str
    secret: str

    @property
    def stored(self) -> dict[str, str]:
        return {"name": self.name, "prefix": self.secret[:12],
                "token_hash": hash_token(self.secret)}


def new_secret(name: str, prefix: str) -> NewSecret:
    """A named token's secret; the name is 1 to 100 characters."""
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise ServiceError({"name": ["must be 1 to 100 characters"]})
    return NewSecret(name, prefix + secrets.token_urlsafe(32))


def create_token(user: User, name: str) -> tuple[ApiToken, str]:
    """A new token; the returned string is the only time it is ever shown."""
    made = new_secret(name, TOKEN_PREFIX)
    token = ApiToken(user_id=user.id, **made.stored)
    db.session.add(token)
    db.session.flush()
    audit.record(user, "token.create", "api_token", token.id, after={"name": made.name})
    db.session.commit()
    return token, made.secret


def revoke_token(user: User, token_id: int) -> None:
    token = db.session.get(ApiToken, token_id)
    if token is None or (token.user_id != user.id and not user.operator):
        raise ServiceError({"token": ["no such token"]})
    token.revoked_at = datetime.now(timezone.utc)
    audit.record(user, "token.revoke", "api_token", token.id, after={"name": token.name})
    db.session.commit()


# --- collection tokens: a site's servers recording consents ------------------------------------

def create_collection_token(site: Site, name: str, user: User | None) -> tuple[CollectionToken, str]:
    """A new token with which the site's own servers may record consents (and nothing
    else); the returned string is the only time it is ever shown."""
    made = new_secret(name, COLLECTION_TOKEN_PREFIX)
    token = CollectionToken(site_id=site.id, created_by=user.email if user else "cli",
                            **made.stored)
    db.session.add(token)
    db.session.flush()
    audit.record(user or "cli", "collection_token.create", "site", site.key,
                 after={"id": token.id, "name": made.name})
    db.session.commit()
    return token, made.secret


def revoke_collection_token(site: Site, token_id: int, user: User | None) -> None:
    token = db.session.get(CollectionToken, token_id) if 0 < token_id < 2**31 else None
    if token is None or token.site_id != site.id:
        raise NotFound("collection token", token_id)
    token.revoked_at = utcnow()
    audit.record(user or "cli", "collection_token.revoke", "site", site.key,
                 after={"id": token.id, "name": token.name})
    db.session.commit()


def revoke_collection_tokens_of(user: User, workspace_id: int | None = None) -> list[int]:
    """Revoke the live collection tokens the user made (for the sites of one workspace, or
    all); the ids revoked. The caller commits."""
    query = (db.select(CollectionToken).join(Site, Site.id == CollectionToken.site_id)
             .where(CollectionToken.created_by == user.email, CollectionToken.revoked_at.is_(None)))
    if workspace_id is not None:
        query = query.where(Site.workspace_id == workspace_id)
    tokens = list(db.session.execute(query).scalars())
    for token in tokens:
        token.revoked_at = utcnow()
    return [token.id for token in tokens]


def collection_token_problem(authorization: str, site_key: str) -> str | None:
    """Why an Authorization header does not carry a live collection token of the site, or
    None when it does."""
    if not authorization.startswith("Bearer "):
        return "must be 'Bearer <collection token>'"
    token = db.session.execute(
        db.select(CollectionToken).filter_by(token_hash=hash_token(authorization[7:].strip()))
    ).scalar_one_or_none()
    if token is None or token.revoked_at is not None:
        return "unknown or revoked collection token"
    if token.site.key != site_key:
        return f"this collection token is not for site {site_key!r}"
    token.last_used_at = utcnow()
    db.session.commit()
    return None
