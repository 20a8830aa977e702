"""Accounts and access: login, sessions, CSRF, throttling, API tokens, and every console
and compliance route tried anonymously and with the wrong role."""
from __future__ import annotations

import re

import pytest

from cmp_server.platform.extensions import db
from cmp_server.models import ApiToken, AuditEvent
from cmp_server.accounts.users import create_user
from consent_logs.bundle import verify_bundle
from tests.conftest import console_login
from tests.support.exports import console_export

PASSWORD = "a long enough password"
# "admin" is the operator (an admin everywhere); "wsadmin" an admin of the one workspace
PEOPLE = {"admin": {"operator": True, "role": "admin"}, "wsadmin": {"role": "admin"},
          "marketer": {"role": "marketer"}, "compliance": {"role": "compliance"}}


@pytest.fixture
def people(app):
    app.config["SESSION_COOKIE_SECURE"] = False  # the test client speaks plain http
    return {name: create_user({"email": f"{name}@shop.example", "password": PASSWORD, **fields})
            for name, fields in PEOPLE.items()}


def may_open(person: str, roles: tuple[str, ...]) -> bool:
    """Whether the route's role check lets the person in (roles () is anyone logged in)."""
    if person == "admin" or not roles:
        return True
    if "operator" in roles:
        return False
    return person == "wsadmin" or person in roles


def log_in(client, role: str):
    answer = console_login(client, f"{role}@shop.example", PASSWORD)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return client


def csrf(client) -> str:
    with client.session_transaction() as session:
        return session["csrf"]


PUBLIC = {"console.login", "console.static"}  # the login form, and its stylesheet and script


def protected_routes(app):
    """Every console and compliance route, with the roles it is for."""
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        roles = getattr(view, "cmp_roles", None)
        if rule.rule.startswith(("/console", "/api/v1/compliance", "/api/v1/admin")) \
                and rule.endpoint not in PUBLIC:
            assert roles is not None, f"{rule.rule} has no role check"
            path = re.sub(r"<(?:\w+:)?(\w+)>", "x", re.sub(r"<int:\w+>", "1", rule.rule))
            method = "GET" if "GET" in rule.methods else sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
            yield path, method, roles


def test_every_protected_route_refuses_anonymous_and_wrong_roles(app, people):
    routes = list(protected_routes(app))
    assert len(routes) >= 15
    for path, method, roles in routes:
        anonymous = app.test_client().open(path, method=method)
        if path.startswith("/api/"):
            assert anonymous.status_code == 401, path
        else:
            assert anonymous.status_code == 302 and "/console/login" in anonymous.location, path
        for person in PEOPLE:
            if may_open(person, roles):
                continue
            client = log_in(app.test_client(), person)
            answer = client.open(path, method=method, data={"csrf_token": csrf(client)})
            assert answer.status_code == 403, (path, person)


def test_session_cookie_flags(app, people):
    app.config["SESSION_COOKIE_SECURE"] = True
    answer = console_login(app.test_client(), "admin@shop.example", PASSWORD,
                           base_url="https://localhost")
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("cmp_console=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_login_logout_and_safe_redirects(client, people):
    answer = client.get("/console/tokens")
    assert answer.status_code == 302
    login = console_login(client, "marketer@shop.example", PASSWORD, next="/console/tokens")
    assert login.location == "/console/tokens"
    assert client.get("/console/tokens").status_code == 200
    client.post("/console/logout", data={"csrf_token": csrf(client)})
    assert client.get("/console/").status_code == 302
    evil = console_login(client, "marketer@shop.example", PASSWORD, next="https://evil.example/")
    assert evil.location == "/console/"
    wrong = console_login(client, "marketer@shop.example", "nope nope nope")
    assert wrong.status_code == 401 and "Login failed." in wrong.get_data(as_text=True)


def test_forms_without_the_csrf_token_are_refused(client, people):
    log_in(client, "marketer")
    answer = client.post("/console/tokens", data={"name": "ci"})
    assert answer.status_code == 400
    assert db.session.query(ApiToken).count() == 0
    logout = client.post("/console/logout")
    assert logout.status_code == 400  # still logged in
    assert client.get("/console/").status_code == 200


def test_the_login_form_needs_its_csrf_token(client, people):
    answer = client.post("/console/login", data={"email": "admin@shop.example",
                                                 "password": PASSWORD})
    assert answer.status_code == 400 and "log in again" in answer.get_data(as_text=True)
    assert client.get("/console/").status_code == 302  # not logged in


def from_address(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def test_a_stranger_cannot_lock_the_owner_out(app, client, people):
    app.config["CMP_TRUSTED_PROXY_HOPS"] = 1
    stranger = from_address("198.51.100.7")
    for _ in range(5):
        assert console_login(client, "admin@shop.example", "wrong password!",
                             headers=stranger).status_code == 401
    assert console_login(client, "admin@shop.example", PASSWORD,
                         headers=stranger).status_code == 429
    owner = app.test_client()
    assert console_login(owner, "admin@shop.example", PASSWORD,
                         headers=from_address("203.0.113.9")).status_code == 302


def test_ipv6_clients_count_by_their_64(app, client, people):
    app.config["CMP_TRUSTED_PROXY_HOPS"] = 1
    for n in range(5):  # five addresses of one /64
        assert console_login(client, "admin@shop.example", "wrong password!",
                             headers=from_address(f"2001:db8:1:2::{n + 1}")).status_code == 401
    assert console_login(client, "admin@shop.example", PASSWORD,
                         headers=from_address("2001:db8:1:2:ffff::9")).status_code == 429
    assert console_login(client, "admin@shop.example", PASSWORD,
                         headers=from_address("2001:db8:1:3::1")).status_code == 302


def test_unknown_and_known_emails_take_alike_to_refuse(app, people):
    import statistics
    import time

    app.config["CMP_TRUSTED_PROXY_HOPS"] = 1

    def refusal(email: str, n: int) -> float:
        client = app.test_client()
        started = time.perf_counter()
        answer = console_login(client, email, "wrong password!",
                               headers=from_address(f"192.0.2.{n}"))
        assert answer.status_code == 401
        return time.perf_counter() - started

    known = [refusal("admin@shop.example", n) for n in range(1, 21)]
    unknown = [refusal(f"nobody{n}@shop.example", n + 100) for n in range(1, 21)]
    ratio = statistics.median(known) / statistics.median(unknown)
    assert 0.5 < ratio < 2, (statistics.median(known), statistics.median(unknown))


def test_login_attempts_are_throttled(client, people):
    for _ in range(5):
        assert console_login(client, "admin@shop.example", "wrong password!").status_code == 401
    blocked = console_login(client, "admin@shop.example", PASSWORD)
    assert blocked.status_code == 429
    assert blocked.headers["Retry-After"] == "900"
    # another account from the same client is not locked out by these five
    assert console_login(client, "marketer@shop.example", PASSWORD).status_code == 302
    stored = " ".join(str(row.key) for row in db.session.execute(db.text("SELECT key FROM login_failures")))
    assert "admin@shop.example" not in stored and "127.0.0.1" not in stored


def test_api_tokens_are_shown_once_stored_hashed_and_revocable(client, people, shop):
    log_in(client, "compliance")
    page = client.post("/console/tokens", data={"name": "auditor export",
                                                "csrf_token": csrf(client)}).get_data(as_text=True)
    secret = re.search(r'<code id="new-token">([^<]+)</code>', page).group(1)
    assert secret.startswith("cmpt_")
    assert secret not in client.get("/console/tokens").get_data(as_text=True)
    row = db.session.query(ApiToken).one()
    assert secret not in (row.token_hash, row.prefix) and len(row.token_hash) == 64

    site, _ = shop
    api = client.application.test_client()  # no session: the token alone
    headers = {"Authorization": f"Bearer {secret}"}
    answer = api.get(f"/api/v1/compliance/sites/{site.key}/export?from=2000-01-01&to=2100-01-01",
                     headers=headers)
    assert answer.status_code == 200 and answer.mimetype == "application/zip"
    answer.close()  # a streamed file: the server closes its spool when the response closes
    client.post("/console/tokens", data={"revoke": str(row.id), "csrf_token": csrf(client)})
    revoked = api.get("/api/v1/compliance/consents/x", headers=headers)
    assert revoked.status_code == 401


def test_the_compliance_officer_exports_and_looks_up_a_subject(client, people, shop, tmp_path):
    from cmp_server.consent.receipts import record_consent

    site, _ = shop
    recorded = record_consent({"site": site.key, "config_version": 1, "action": "accept_all",
                               "language": "de"}, None, "https://shop.example")
    log_in(client, "compliance")
    _, _, download = console_export(client, csrf(client), site.key, "2000-01-01", "2100-01-01")
    assert download.status_code == 200
    assert "attachment" in download.headers["Content-Disposition"]
    bundle = tmp_path / "proof.zip"
    bundle.write_bytes(download.data)
    download.close()
    assert verify_bundle(str(bundle)).records == 1
    # one day, from and through today: both ends are included, and the export is audited
    today = recorded.receipt["issued_at"][:10]
    _, _, one_day = console_export(client, csrf(client), site.key, today, today)
    assert one_day.status_code == 200
    assert f"-{today.replace('-', '')}-{today.replace('-', '')}.zip" in one_day.headers[
        "Content-Disposition"]
    bundle.write_bytes(one_day.data)
    one_day.close()
    assert verify_bundle(str(bundle)).records == 1
    db.session.expire_all()
    exports = db.session.query(AuditEvent).filter_by(action="proof.export").all()
    assert [(e.actor, e.entity_id, e.after["records"]) for e in exports] == [
        ("compliance@shop.example", site.key, 1)] * 2

    consent_id = recorded.receipt["receipt_id"]
    page = client.get(f"/console/compliance/subjects?consent_id={consent_id}").get_data(as_text=True)
    assert consent_id in page and "accept_all" in page
    assert "Analytics, Marketing" in page  # what the record granted
    assert "Records of this visitor on Shop" in page  # the site by its name
    api = client.get(f"/api/v1/compliance/consents/{consent_id}", headers={})
    assert api.status_code == 200 and api.json["records"][0]["status"] == "active"
    assert db.session.query(AuditEvent).filter_by(action="subject.lookup").count() == 2
    bad = client.post("/console/compliance/export", data={
        "site": site.key, "from": "yesterday", "to": "2100-01-01", "csrf_token": csrf(client)})
    assert bad.status_code == 422 and "must be a date" in bad.get_data(as_text=True)


def test_the_compliance_officer_erases_on_a_visitors_request(client, people, shop):
    from cmp_server.models import SubjectRequest, ledger
    from cmp_server.consent.receipts import record_consent

    site, _ = shop
    recorded = record_consent({"site": site.key, "config_version": 1, "action": "accept_all",
                               "language": "de"}, None, "https://shop.example")
    consent_id = recorded.receipt["receipt_id"]
    log_in(client, "compliance")
    unconfirmed = client.post("/console/compliance/subjects/erase",
                              data={"consent_id": consent_id, "csrf_token": csrf(client)})
    assert unconfirmed.status_code == 302
    assert ledger.get(db.session.connection(), consent_id) is not None
    done = client.post("/console/compliance/subjects/erase", data={
        "consent_id": consent_id, "confirm": "yes", "csrf_token": csrf(client)})
    assert "1 records erased" in done.get_data(as_text=True)
    assert ledger.get(db.session.connection(), consent_id) is None
    request = db.session.query(SubjectRequest).filter_by(kind="erasure").one()
    assert request.handled_by == "compliance@shop.example" and request.receipt_id == consent_id
    assert ledger.verify(db.session.connection()) == 1


def test_the_audit_trail_is_viewable_filterable_and_read_only(client, people, shop):
    site, _ = shop
    log_in(client, "compliance")
    page = client.get("/console/audit").get_data(as_text=True)
    assert "config.publish" in page and "site.create" in page
    filtered = client.get("/console/audit?action=config.").get_data(as_text=True)
    assert "config.publish" in filtered and "site.create" not in filtered
    # % and _ match themselves, not anything (found by the stress suite)
    assert "config.publish" not in client.get("/console/audit?action=%25").get_data(as_text=True)
    assert "config.publish" not in client.get("/console/audit?action=config_").get_data(as_text=True)
    by_entity = client.get(f"/console/audit?entity={site.key}").get_data(as_text=True)
    assert "draft.vendors" in by_entity and "user.create" not in by_entity
    assert "must be a date" in client.get("/console/audit?since=soon").get_data(as_text=True)
    assert client.post("/console/audit", data={"csrf_token": csrf(client)}).status_code == 405
