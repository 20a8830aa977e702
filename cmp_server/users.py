"""Console users and their roles. Passwords are hashed with Argon2id (memory-hard)."""
from __future__ import annotations

import functools
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from marshmallow import fields, validate

from cmp_server import audit
from cmp_server.errors import ServiceError
from cmp_server.extensions import db
from cmp_server.schemas import StrictSchema, validated
from cmp_server.models import Role, User

MIN_PASSWORD_LENGTH = 12
password_hasher = PasswordHasher()  # Argon2id, 64 MiB, 3 passes: the library's RFC 9106 profile


class UserSchema(StrictSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(
            min=MIN_PASSWORD_LENGTH, max=1024,
            error=f"must be {MIN_PASSWORD_LENGTH} to 1024 characters long",
        ),
    )
    role = fields.String(
        required=True,
        validate=validate.OneOf(
            [r.value for r in Role], error="must be one of: admin, marketer, compliance"
        ),
    )


def find_user(email: str) -> User | None:
    return db.session.execute(
        db.select(User).filter_by(email=email.strip().lower())
    ).scalar_one_or_none()


def create_user(payload: dict[str, Any], actor: User | str | None = None) -> User:
    data = validated(UserSchema(), payload)
    email = data["email"].strip().lower()
    if find_user(email) is not None:
        raise ServiceError({"email": [f"a user {email!r} already exists"]})
    user = User(email=email, password_hash=password_hasher.hash(data["password"]), role=data["role"])
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "user.create", "user", user.id, after={"email": email, "role": user.role})
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
