"""Console sessions, kept on the server: the browser's signed cookie holds a secret whose
SHA-256 names the session, so logout, a disabled account or a new password end it at
once; sessions end when idle and after a fixed lifetime."""
from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from flask import current_app, request, session

from cmp_server.accounts import audit
from cmp_server.accounts.tokens import hash_token
from cmp_server.models import ConsoleSession, User, utcnow
from cmp_server.platform.extensions import db
from consent_logs.timeutil import as_utc

SEEN_EVERY = timedelta(minutes=1)  # how often a session's last use is written down


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
