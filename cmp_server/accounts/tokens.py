"""Tokens: a user's API tokens and a site's collection tokens. Only a token's SHA-256
is stored; the token itself is shown once, when it is made."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass


from cmp_server.accounts import audit
from cmp_server.models import ApiToken, CollectionToken, Site, User, utcnow
from cmp_server.platform.errors import NotFound, ServiceError
from cmp_server.platform.extensions import db

TOKEN_PREFIX = "cmpt_"


COLLECTION_TOKEN_PREFIX = "cmpc_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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
    token.revoked_at = utcnow()
    audit.record(user, "token.revoke", "api_token", token.id, after={"name": token.name})
    db.session.commit()


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


def revoke_all_tokens(user: User) -> None:
    for token in db.session.execute(
            db.select(ApiToken).filter_by(user_id=user.id, revoked_at=None)).scalars():
        token.revoked_at = utcnow()
