"""Account lifecycle: logout, disabling and a new password end sessions at once (a copied
session cookie dies with them), sessions end when idle, disabling revokes API tokens, the
last admin stays; from the admin API, the console and the CLI."""
from __future__ import annotations

from datetime import timedelta

import pytest

from cmp_server.accounts.tokens import create_token
from cmp_server.platform.extensions import db
from cmp_server.models import ConsoleSession, User, utcnow
from cmp_server.accounts.users import create_user
from tests.conftest import console_login

PASSWORD = "a long enough password"


@pytest.fixture
def people(app):
    app.config["SESSION_COOKIE_SECURE"] = False
    return {"admin": create_user({"email": "admin@shop.example", "password": PASSWORD,
                                  "operator": True, "role": "admin"}),
            "marketer": create_user({"email": "marketer@shop.example", "password": PASSWORD,
                                     "role": "marketer"})}


def logged_in(app, role: str):
    client = app.test_client()
    assert console_login(client, f"{role}@shop.example", PASSWORD).status_code == 302
    return client


def stolen_copy(app, client):
    """Another browser holding the same session cookie (as a thief would)."""
    thief = app.test_client()
    thief.set_cookie("cmp_console", client.get_cookie("cmp_console").value)
    return thief


def admin_api(app, people):
    token = create_token(people["admin"], "automation")[1]
    client = app.test_client()

    def call(method, path, body=None):
        return client.open(f"/api/v1/admin{path}", method=method, json=body,
                           headers={"Authorization": f"Bearer {token}"})
    return call


def test_a_copied_session_cookie_dies_with_logout(app, people):
    marketer = logged_in(app, "marketer")
    thief = stolen_copy(app, marketer)
    assert thief.get("/console/").status_code == 200
    with marketer.session_transaction() as session:
        csrf = session["csrf"]
    marketer.post("/console/logout", data={"csrf_token": csrf})
    assert thief.get("/console/").status_code == 302
    refused = thief.post("/console/tokens", data={"csrf_token": csrf, "name": "x"})
    assert refused.status_code == 302  # to the login page: nothing made
    assert db.session.query(ConsoleSession).one().ended_because == "logout"


def test_disabling_ends_sessions_and_revokes_tokens(app, people):
    marketer = logged_in(app, "marketer")
    token = create_token(people["marketer"], "ci")[1]
    bearer = {"Authorization": f"Bearer {token}"}
    assert app.test_client().get("/api/v1/admin/sites", headers=bearer).status_code == 200
    api = admin_api(app, people)
    answer = api("PATCH", f"/users/{people['marketer'].id}", {"active": False})
    assert answer.status_code == 200 and answer.json["active"] is False
    assert marketer.get("/console/").status_code == 302
    assert app.test_client().get("/api/v1/admin/sites", headers=bearer).status_code == 401
    assert console_login(app.test_client(), "marketer@shop.example", PASSWORD).status_code == 401
    api("PATCH", f"/users/{people['marketer'].id}", {"active": True})
    assert console_login(app.test_client(), "marketer@shop.example", PASSWORD).status_code == 302


def test_a_new_password_ends_sessions(app, people):
    marketer = logged_in(app, "marketer")
    api = admin_api(app, people)
    assert len(api("GET", f"/users/{people['marketer'].id}/sessions").json) == 1
    new = "an entirely new password"
    assert api("PATCH", f"/users/{people['marketer'].id}", {"password": new}).status_code == 200
    assert marketer.get("/console/").status_code == 302
    assert api("GET", f"/users/{people['marketer'].id}/sessions").json == []
    assert console_login(app.test_client(), "marketer@shop.example", PASSWORD).status_code == 401
    assert console_login(app.test_client(), "marketer@shop.example", new).status_code == 302


def test_an_admin_ends_someones_sessions(app, people):
    marketer = logged_in(app, "marketer")
    api = admin_api(app, people)
    assert api("DELETE", f"/users/{people['marketer'].id}/sessions").status_code == 204
    assert marketer.get("/console/").status_code == 302


def test_a_session_ends_when_idle(app, people):
    app.config["CMP_SESSION_IDLE_MINUTES"] = 30
    marketer = logged_in(app, "marketer")
    record = db.session.query(ConsoleSession).one()
    record.last_seen_at = utcnow() - timedelta(minutes=31)
    db.session.commit()
    assert marketer.get("/console/").status_code == 302
    db.session.refresh(record)
    assert record.ended_because == "idle"


def test_nobody_disables_themselves_and_the_last_operator_stays(app, people, runner):
    api = admin_api(app, people)
    admin = people["admin"].id
    second = create_user({"email": "second@shop.example", "password": PASSWORD, "operator": True})
    own = api("PATCH", f"/users/{admin}", {"active": False})  # with their own token
    assert own.status_code == 422 and "another operator" in own.json["errors"]["json"]["active"][0]
    demoted = api("PATCH", f"/users/{admin}", {"operator": False})
    assert demoted.status_code == 422 and "operator" in demoted.json["errors"]["json"]
    assert api("PATCH", f"/users/{second.id}", {"active": False}).status_code == 200
    # the operator's command line is nobody's own account, but the last operator stays
    last = runner.invoke(args=["cmp", "update-user", "--email", "admin@shop.example",
                               "--disable"])
    assert last.exit_code != 0 and "last active operator" in last.output
    assert db.session.get(User, admin).active is True
    assert api("PATCH", "/users/999", {"active": False}).status_code == 404
    bad = api("PATCH", f"/users/{people['marketer'].id}", {"password": "short"})
    assert bad.status_code == 422 and "password" in bad.json["errors"]["json"]


def test_the_console_users_page(app, people):
    admin = logged_in(app, "admin")
    marketer = logged_in(app, "marketer")
    with admin.session_transaction() as session:
        csrf = session["csrf"]
    page = admin.get("/console/users").get_data(as_text=True)
    assert 'data-user="marketer@shop.example"' in page
    answer = admin.post("/console/users", data={"csrf_token": csrf, "action": "make-operator",
                                                "user_id": people["marketer"].id})
    assert "Saved marketer@shop.example." in answer.get_data(as_text=True)
    assert db.session.get(User, people["marketer"].id).operator is True
    admin.post("/console/users", data={"csrf_token": csrf, "action": "disable",
                                       "user_id": people["marketer"].id})
    assert marketer.get("/console/").status_code == 302
    made = admin.post("/console/users", data={"csrf_token": csrf, "action": "create",
                                              "email": "new@shop.example", "role": "marketer",
                                              "workspace": "1", "password": PASSWORD})
    assert "Created new@shop.example." in made.get_data(as_text=True)
    assert db.session.query(User).filter_by(email="new@shop.example").one().role_in(1) == "marketer"


def test_the_cli_disables_and_sets_a_password(app, people, runner):
    marketer = logged_in(app, "marketer")
    result = runner.invoke(args=["cmp", "update-user", "--email", "marketer@shop.example",
                                 "--disable"])
    assert result.exit_code == 0, result.output
    assert "marketer@shop.example (marketer in Default) disabled" in result.output
    assert marketer.get("/console/").status_code == 302
    result = runner.invoke(args=["cmp", "update-user", "--email", "marketer@shop.example",
                                 "--enable", "--password-stdin"], input="a brand new password\n")
    assert result.exit_code == 0, result.output
    assert console_login(app.test_client(), "marketer@shop.example",
                         "a brand new password").status_code == 302
