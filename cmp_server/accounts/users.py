"""Console users and their roles. Passwords are hashed with Argon2id (memory-hard)."""
from __future__ import annotations

import functools
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from marshmallow import fields, validate

from cmp_server.accounts import audit, sessions, tokens, workspaces
from cmp_server.platform.errors import NotFound, ServiceError
from cmp_server.platform.extensions import db
from cmp_server.platform.schemas import StrictBoolean, StrictSchema, validated
from cmp_server.models import Membership, User

MIN_PASSWORD_LENGTH = 12
password_hasher = PasswordHasher()  # Argon2id, 64 MiB, 3 passes: the library's RFC 9106 profile


PASSWORD_LENGTH = validate.Length(min=MIN_PASSWORD_LENGTH, max=1024,
                                  error=f"must be {MIN_PASSWORD_LENGTH} to 1024 characters long")


class UserSchema(StrictSchema):
    """A new account: an operator, a member of a workspace with a role, or both (a
    workspace's admin may also add members with members.add_member)."""

    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, load_only=True, validate=PASSWORD_LENGTH)
    operator = StrictBoolean(load_default=False)
    role = fields.String(validate=workspaces.ROLE_CHOICE, metadata={
        "description": "The role in `workspace` (or in the install's only workspace)."})
    workspace = fields.Integer(strict=True, validate=validate.Range(1, 2**31 - 1))


class UserUpdate(StrictSchema):
    """What an operator may change about an account (any subset); roles are per
    workspace (its members)."""

    operator = StrictBoolean()
    active = StrictBoolean()
    password = fields.String(load_only=True, validate=PASSWORD_LENGTH)


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id) if 0 < user_id < 2**31 else None
    if user is None:
        raise NotFound("user", user_id)
    return user


def update_user(user: User, payload: dict[str, Any], actor: User | str | None) -> User:
    """Make a user an operator or not, disable or enable them, or set a new password.
    Disabling ends their console sessions and revokes their API tokens at once; a new
    password ends their sessions. Nobody disables or demotes themselves (another operator
    must), and the last active operator stays one."""
    data = validated(UserUpdate(), payload)
    if actor is user:
        for field, keeps in (("active", True), ("operator", user.operator)):
            if field in data and data[field] != keeps:
                raise ServiceError({field: ["not your own: another operator must change it"]})
    before = {"operator": user.operator, "active": user.active}
    stays = data.get("operator", user.operator) and data.get("active", user.active)
    if user.operator and user.active and not stays and active_operators() == 1:
        field = "active" if "active" in data and not data["active"] else "operator"
        raise ServiceError({field: ["this is the last active operator: make another one first"]})
    user.operator = data.get("operator", user.operator)
    user.active = data.get("active", user.active)
    if "password" in data:
        user.password_hash = password_hasher.hash(data["password"])
    if not user.active:
        sessions.end_sessions(sessions.open_sessions(user), "disabled")
        tokens.revoke_all_tokens(user)
        tokens.revoke_collection_tokens_of(user)
    elif "password" in data:
        sessions.end_sessions(sessions.open_sessions(user), "new password")
    after = {"operator": user.operator, "active": user.active,
             "password_changed": "password" in data}
    audit.record(actor, "user.update", "user", user.id, before=before, after=after)
    db.session.commit()
    return user


def active_operators() -> int:
    return db.session.query(User).filter_by(operator=True, active=True).count()


def find_user(email: str) -> User | None:
    return db.session.execute(
        db.select(User).filter_by(email=email.strip().lower())
    ).scalar_one_or_none()


def create_user(payload: dict[str, Any], actor: User | str | None = None) -> User:
    """An account; with a role, a member of ``workspace`` (or of the install's only one)."""
    data = validated(UserSchema(), payload)
    email = data["email"].strip().lower()
    if find_user(email) is not None:
        raise ServiceError({"email": [f"a user {email!r} already exists"]})
    if "workspace" in data and "role" not in data:
        raise ServiceError({"role": ["required with a workspace"]})
    workspace = workspaces.target(None, data.get("workspace"), ()) if "role" in data else None
    user = User(email=email, password_hash=password_hasher.hash(data["password"]),
                operator=data["operator"])
    if workspace is not None:
        user.memberships = [Membership(workspace_id=workspace.id, role=data["role"])]
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "user.create", "user", user.id, after={
        "email": email, "operator": user.operator,
        "workspace": workspace.id if workspace else None, "role": data.get("role")})
    db.session.commit()
    return user


@functools.cache
def unknown_user_hash() -> str:
    """A hash of a random password (made once per process, when first needed), verified
    for unknown e-mails so that they cost what known ones do."""
    return password_hasher.hash(secrets.token_urlsafe(32))


def spend_password_check(password: str) -> bool:
    """Verify ``password`` against a hash no password matches; always False."""
    try:
        password_hasher.verify(unknown_user_hash(), password)
    except (VerifyMismatchError, InvalidHashError):
        pass
    return False


def check_password(user: User, password: str) -> bool:
    try:
        return password_hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False
