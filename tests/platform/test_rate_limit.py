"""Public API POSTs are limited per client address, across worker processes, and the
counters hold no address."""
from __future__ import annotations

import ipaddress
import multiprocessing

import pytest
from sqlalchemy import text

from cmp_server.platform.extensions import db
from cmp_server.platform.rate_limit import FILE_NAME, PERIOD, RateLimit
from tests.support.http import call

LIMIT = 5


def test_a_client_gets_its_budget_per_window(tmp_path):
    limiter = RateLimit(tmp_path / FILE_NAME, LIMIT, "secret")
    start = 1_000 * PERIOD + 10.0
    assert [limiter.retry_after("203.0.113.7", start) for _ in range(LIMIT)] == [None] * LIMIT
    assert limiter.retry_after("203.0.113.7", start + 1) == PERIOD - 11
    assert limiter.retry_after("198.51.100.1", start + 1) is None  # another client
    assert limiter.retry_after("203.0.113.7", start + PERIOD) is None  # the next window


def hit(path, client, times, now=None):
    limiter = RateLimit(path, LIMIT, "secret")
    return [limiter.retry_after(client, now) is None for _ in range(times)]


def test_the_budget_is_shared_by_processes(tmp_path):
    path = tmp_path / FILE_NAME
    RateLimit(path, LIMIT, "secret")  # created once, as the first worker would
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        # one instant for both, mid-window: a window turning between the processes'
        # requests would rightly give the client a new budget
        now = 1_000 * PERIOD + 10.0
        allowed = sum(sum(r) for r in pool.starmap(hit, [(path, "203.0.113.7", 20, now)] * 2))
    # each process alone would allow LIMIT; shared, both together allow exactly LIMIT (lost
    # increments once let 8 of 40 racing requests through)
    assert allowed == LIMIT


def hit_together(path, client, times, limit, start_at):
    """``times`` requests as fast as can be, from the moment ``start_at``."""
    import time

    limiter = RateLimit(path, limit, "secret")
    while time.time() < start_at:
        pass
    now = 1_000 * PERIOD + 10.0
    return sum(limiter.retry_after(client, now) is None for _ in range(times))


def test_racing_processes_lose_no_request(tmp_path):
    """Two workers counting the same client at the same moment, on both cores: every
    request counts, so the one after the budget is refused (unlocked increments lost
    hundreds of these)."""
    import time

    path, budget = tmp_path / FILE_NAME, 20_000
    RateLimit(path, budget, "secret")
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        allowed = pool.starmap(hit_together, [(path, "203.0.113.7", budget // 2, budget,
                                               time.time() + 2)] * 2)
    assert sum(allowed) == budget
    assert RateLimit(path, budget, "secret").retry_after("203.0.113.7",
                                                         1_000 * PERIOD + 10.0) is not None


def test_the_counters_hold_no_address(tmp_path):
    limiter = RateLimit(tmp_path / FILE_NAME, LIMIT, "secret")
    address = "203.0.113.77"
    limiter.retry_after(address)
    stored = (tmp_path / FILE_NAME).read_bytes()
    assert address.encode() not in stored
    assert ipaddress.ip_address(address).packed not in stored
    other_key = RateLimit(tmp_path / "other", LIMIT, "another key")
    assert limiter.slots_of(address) != other_key.slots_of(address)


def test_a_client_sharing_one_slot_with_a_flood_is_not_refused(tmp_path):
    limiter = RateLimit(tmp_path / FILE_NAME, LIMIT, "secret", slots=64)
    flood = limiter.slots_of("203.0.113.7")
    neighbour = next(f"198.51.100.{i}" for i in range(256)
                     if limiter.slots_of(f"198.51.100.{i}")[0] == flood[0]
                     and limiter.slots_of(f"198.51.100.{i}")[1] != flood[1])
    for _ in range(10 * LIMIT):
        limiter.retry_after("203.0.113.7")
    assert limiter.retry_after(neighbour) is None


@pytest.fixture
def limited(app):
    app.config.update(CMP_RATE_LIMIT_PER_MINUTE=LIMIT, CMP_TRUSTED_PROXY_HOPS=1)


def post_consent(live_server, site, address, **fields):
    body = {"site": site.key, "config_version": 1, "action": "accept_all", "language": "en",
            **fields}
    return call("POST", f"{live_server}/api/v1/consents", body,
                headers={"X-Forwarded-For": address, "Origin": "https://shop.example"})


def records() -> int:
    return db.session.execute(text("SELECT count(*) FROM consent_records")).scalar()


def test_a_flooding_client_gets_429_and_others_do_not(live_server, shop, limited):
    site, _ = shop
    # refused bodies count too, once each, although the hot path hands them to the view
    assert post_consent(live_server, site, "203.0.113.7", surprise=1).status == 422
    statuses = [post_consent(live_server, site, "203.0.113.7").status for _ in range(LIMIT)]
    assert statuses == [201] * (LIMIT - 1) + [429]
    refused = post_consent(live_server, site, "203.0.113.7")
    assert refused.status == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= PERIOD
    assert refused.json["code"] == 429 and "a minute from this client" in refused.json["message"]
    assert records() == LIMIT - 1  # nothing stored for the refused calls
    assert post_consent(live_server, site, "198.51.100.1").status == 201


def test_a_limit_of_zero_turns_the_limit_off(live_server, shop, app):
    app.config["CMP_RATE_LIMIT_PER_MINUTE"] = 0
    site, _ = shop
    assert {post_consent(live_server, site, "203.0.113.7").status for _ in range(15)} == {201}


# --- across app servers -------------------------------------------------------------------------

@pytest.fixture
def second_server(database_url, tmp_path):
    """Another app server over the same database, with an instance folder of its own (as
    on another host)."""
    import threading

    from werkzeug.serving import make_server

    from tests.conftest import make_app

    folder = tmp_path / "second-host"
    folder.mkdir()
    other = make_app(database_url, folder)
    server = make_server("127.0.0.1", 0, other, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield other, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()
    with other.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("storage, accepted", [("database", 4), ("file", 8)])
def test_a_limit_kept_in_the_database_holds_across_app_servers(
        app, live_server, shop, second_server, storage, accepted):
    other, other_url = second_server
    for each in (app, other):
        each.config.update(CMP_RATE_LIMIT_PER_MINUTE=4, CMP_TRUSTED_PROXY_HOPS=1,
                           CMP_RATE_LIMIT_STORAGE=storage)
    site, _ = shop
    answers = [post_consent(server, site, "198.51.100.23").status
               for _ in range(5) for server in (live_server, other_url)]
    assert answers.count(201) == accepted  # file: each host its own budget of 4
    assert set(answers) <= {201, 429}
    if storage == "database":
        stored = db.session.execute(text("SELECT client FROM rate_limit_counts")).scalars().all()
        assert len(stored) == 1 and "198.51.100.23" not in stored[0]
