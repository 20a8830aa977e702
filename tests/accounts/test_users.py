"""Users: Argon2id hashes, roles, duplicates refused."""
from __future__ import annotations

import pytest

from cmp_server.platform.errors import ServiceError
from cmp_server.platform.extensions import db
from cmp_server.models import User
from cmp_server.accounts.users import check_password, create_user

PASSWORD = "correct horse battery staple"


def test_a_user_is_stored_with_an_argon2id_hash(app):
    user = create_user({"email": "Ann@Shop.Example", "password": PASSWORD, "role": "marketer"})
    assert user.email == "ann@shop.example"
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert check_password(user, PASSWORD)
    assert not check_password(user, PASSWORD + "!")


@pytest.mark.parametrize("payload,field", [
    ({"email": "not-an-email", "password": PASSWORD, "role": "admin"}, "email"),
    ({"email": "a@shop.example", "password": "short", "role": "admin"}, "password"),
    ({"email": "a@shop.example", "password": PASSWORD, "role": "owner"}, "role"),
])
def test_bad_users_are_refused(app, payload, field):
    with pytest.raises(ServiceError) as raised:
        create_user(payload)
    assert field in raised.value.errors
    db.session.rollback()
    assert db.session.query(User).count() == 0


def test_an_email_is_taken_once_whatever_its_case(app):
    create_user({"email": "ann@shop.example", "password": PASSWORD, "role": "admin"})
    with pytest.raises(ServiceError) as raised:
        create_user({"email": "ANN@shop.example", "password": PASSWORD, "role": "marketer"})
    assert raised.value.errors == {"email": ["a user 'ann@shop.example' already exists"]}
