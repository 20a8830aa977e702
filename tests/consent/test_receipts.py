"""Consent that is true (docs/architecture.md, Receipts): a subject is proven only by its token,
each subject's history is one chain, a vendor needs every one of its purposes, and a change
made without the visitor's browser reaches the site. Over real HTTP, on both engines."""
from __future__ import annotations

import threading
import urllib.parse
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from cmp_server.consent import receipts
from cmp_server.platform.extensions import db
from cmp_server.models import LEDGER_TABLES, StaleReceipt, ledger
from tests.support.http import call

ORIGIN = {"Origin": "https://shop.example"}


@pytest.fixture
def marketer_token(app) -> dict[str, str]:
    """A marketer's API token, as their automation sends it."""
    from cmp_server.accounts.tokens import create_token
    from cmp_server.accounts.users import create_user

    marketer = create_user({"email": "m@shop.example", "password": "a long enough password",
                            "role": "marketer"})
    return {"Authorization": f"Bearer {create_token(marketer, 'automation')[1]}"}


def post(live_server, site, headers=ORIGIN, **fields):
    body = {"site": site.key, "config_version": 1, "language": "sv", **fields}
    return call("POST", f"{live_server}/api/v1/consents", body, headers=headers)


def history(site, subject_id: str) -> list[dict]:
    return [r for _, r in ledger.subject_records(db.session.connection(), site.key, subject_id)]


def status(live_server, token: str) -> str:
    return call("POST", f"{live_server}/api/v1/receipts/verify", {"token": token}).json["status"]


def form(url: str, **fields):
    return call("POST", url, raw=urllib.parse.urlencode(fields).encode(),
                content_type="application/x-www-form-urlencoded")


# --- one subject, proven only by its token ----------------------------------------------------

def test_a_bare_subject_id_cannot_write_someone_elses_history(live_server, shop):
    site, _ = shop
    victim = post(live_server, site, action="reject_all").json
    subject = victim["receipt"]["subject_id"]
    for headers in (ORIGIN, {}):
        forged = post(live_server, site, headers=headers, action="accept_all", subject_id=subject)
        assert forged.status in (403, 422)
        if forged.status == 422:
            assert "subject_id" in forged.json["errors"]["json"]
    assert [r["action"] for r in history(site, subject)] == ["reject_all"]
    assert ledger.count(db.session.connection()) == 1
    assert status(live_server, victim["token"]) == "active"


def test_a_subject_id_beside_its_own_token_is_accepted(live_server, shop):
    site, _ = shop
    first = post(live_server, site, action="reject_all").json
    again = post(live_server, site, action="accept_all", token=first["token"],
                 subject_id=first["receipt"]["subject_id"])
    assert again.status == 201
    assert again.json["receipt"]["previous_receipt_id"] == first["receipt"]["receipt_id"]


def test_a_post_without_origin_needs_a_collection_token(live_server, shop):
    site, _ = shop
    refused = post(live_server, site, headers={}, action="accept_all")
    assert refused.status == 403
    assert "collection token" in refused.json["errors"]["json"]["origin"][0]
    assert ledger.count(db.session.connection()) == 0


def test_the_sites_server_records_with_its_collection_token(live_server, shop, marketer_token):
    site, _ = shop
    made = call("POST", f"{live_server}/api/v1/admin/sites/{site.key}/collection-tokens",
                {"name": "checkout backend"}, headers=marketer_token)
    assert made.status == 201 and made.json["token"].startswith("cmpc_")
    bearer = {"Authorization": f"Bearer {made.json['token']}"}
    visitor = post(live_server, site, action="reject_all").json
    recorded = post(live_server, site, headers=bearer, action="accept_all", token=visitor["token"])
    assert recorded.status == 201
    receipt = recorded.json["receipt"]
    assert receipt["collection_method"] == "api"
    assert receipt["previous_receipt_id"] == visitor["receipt"]["receipt_id"]
    # the browser still holds the refusal: its banner will be told to ask for the new state
    banner = call("GET", f"{live_server}/api/v1/sites/{site.key}/banner").json
    assert visitor["receipt"]["receipt_id"][:8] in banner["stale"]
    # other methods are not the server's to claim
    wrong = post(live_server, site, headers=bearer, action="accept_all",
                 collection_method="first_layer")
    assert wrong.status == 422 and "collection_method" in wrong.json["errors"]["json"]
    # listed without the secret; revoked at once
    listed = call("GET", f"{live_server}/api/v1/admin/sites/{site.key}/collection-tokens",
                  headers=marketer_token).json
    assert [t["name"] for t in listed] == ["checkout backend"] and "token" not in listed[0]
    gone = call("DELETE", f"{live_server}/api/v1/admin/sites/{site.key}/collection-tokens/"
                f"{made.json['id']}", headers=marketer_token)
    assert gone.status == 204
    after = post(live_server, site, headers=bearer, action="accept_all")
    assert after.status == 403 and "revoked" in after.json["errors"]["json"]["authorization"][0]


def test_a_collection_token_of_another_site_is_refused(live_server, shop, marketer_token):
    site, _ = shop
    from cmp_server.sites.registry import create_site
    from tests.conftest import SHOP

    other = create_site({**SHOP, "name": "Other", "origins": ["https://other.example"]})
    made = call("POST", f"{live_server}/api/v1/admin/sites/{other.key}/collection-tokens",
                {"name": "theirs"}, headers=marketer_token).json
    answer = post(live_server, site, headers={"Authorization": f"Bearer {made['token']}"},
                  action="accept_all")
    assert answer.status == 403
    assert "not for site" in answer.json["errors"]["json"]["authorization"][0]


def test_an_unregistered_origin_is_refused(live_server, shop):
    site, _ = shop
    answer = post(live_server, site, headers={"Origin": "https://evil.example"}, action="accept_all")
    assert answer.status == 403
    assert "not registered" in answer.json["errors"]["json"]["origin"][0]


# --- one chain per subject ----------------------------------------------------------------------

def test_a_replayed_old_token_does_not_fork_the_history(live_server, shop):
    site, _ = shop
    first = post(live_server, site, action="accept_all").json
    second = post(live_server, site, action="reject_all", token=first["token"]).json
    replay = post(live_server, site, action="accept_all", token=first["token"]).json
    chain = history(site, first["receipt"]["subject_id"])
    assert [r["receipt_id"] for r in chain] == [
        first["receipt"]["receipt_id"], second["receipt"]["receipt_id"],
        replay["receipt"]["receipt_id"]]
    assert [r["previous_receipt_id"] for r in chain] == [
        None, first["receipt"]["receipt_id"], second["receipt"]["receipt_id"]]
    # verification still tells what each old token stands for
    assert status(live_server, first["token"]) == "superseded"
    assert status(live_server, second["token"]) == "superseded"
    assert status(live_server, replay["token"]) == "active"


def test_choices_racing_each_other_still_form_one_chain(live_server, shop):
    site, _ = shop
    first = post(live_server, site, action="accept_all").json
    answers = []
    barrier = threading.Barrier(8)

    def choose():
        barrier.wait()
        answers.append(post(live_server, site, action="reject_all", token=first["token"]))

    threads = [threading.Thread(target=choose) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status for a in answers) == [201] * 8
    chain = history(site, first["receipt"]["subject_id"])
    assert len(chain) == 9
    previous = [r["previous_receipt_id"] for r in chain]
    assert previous == [None] + [r["receipt_id"] for r in chain[:-1]]


def test_an_expired_token_proves_nothing(live_server, shop, monkeypatch):
    site, _ = shop
    first = post(live_server, site, action="reject_all").json
    later = datetime.now(timezone.utc) + timedelta(days=200)  # past the 6 months of a refusal
    monkeypatch.setattr(receipts, "now_utc", lambda: later.replace(microsecond=0))
    again = post(live_server, site, action="accept_all", token=first["token"]).json
    assert again["receipt"]["subject_id"] != first["receipt"]["subject_id"]
    assert again["receipt"]["previous_receipt_id"] is None
    withdraw = post(live_server, site, action="withdraw", token=first["token"])
    assert withdraw.status == 422 and "token" in withdraw.json["errors"]["json"]


def test_my_consent_refuses_a_change_with_an_expired_token(live_server, shop):
    """An expired token proves no subject: the change would start a new one that the
    site's cookie never hears of, while the page said it was applied."""
    site, _ = shop
    first = post(live_server, site, action="reject_all").json
    expired = receipts.token_for({**first["receipt"], "expires_at": "2026-01-01T00:00:00Z"})
    answer = form(f"{live_server}/my-consent/change", token=expired,
                  **{"purpose-analytics": "on", "language": "sv"})
    assert answer.status == 400 and "expired" in answer.body.decode()
    assert "Your new choice is recorded" not in answer.body.decode()
    assert ledger.count(db.session.connection()) == 1


def test_an_erased_subjects_token_starts_a_new_subject(live_server, shop):
    site, _ = shop
    first = post(live_server, site, action="accept_all").json
    erased = form(f"{live_server}/my-consent/erase", token=first["token"], confirm="yes")
    assert erased.status == 200
    again = post(live_server, site, action="reject_all", token=first["token"]).json
    assert again["receipt"]["subject_id"] != first["receipt"]["subject_id"]
    assert again["receipt"]["previous_receipt_id"] is None


# --- a vendor needs every one of its purposes ---------------------------------------------------

def test_a_vendor_is_not_granted_on_one_of_its_purposes(live_server, shop):
    site, _ = shop
    answer = post(live_server, site, action="custom",
                  purposes={"analytics": True, "marketing": False},
                  vendors={"piwik-pro": True, "mixpanel": True})
    assert answer.status == 422
    message = answer.json["errors"]["json"]["vendors.piwik-pro"][0]
    assert "marketing is refused" in message
    assert ledger.count(db.session.connection()) == 0
    both = post(live_server, site, action="custom",
                purposes={"analytics": True, "marketing": True}, vendors={"piwik-pro": True})
    assert both.status == 201 and both.json["receipt"]["vendors"]["piwik-pro"] is True


def test_my_consent_grants_a_vendor_only_with_all_its_purposes(live_server, shop):
    site, _ = shop
    first = post(live_server, site, action="accept_all").json
    changed = form(f"{live_server}/my-consent/change", token=first["token"],
                   **{"purpose-analytics": "on", "language": "sv"})
    assert changed.status == 200
    newest = history(site, first["receipt"]["subject_id"])[-1]
    assert newest["purposes"]["analytics"] is True and newest["purposes"]["marketing"] is False
    assert newest["vendors"]["piwik-pro"] is False  # analytics and marketing
    assert newest["vendors"]["mixpanel"] is True  # analytics only


# --- the site follows the ledger ---------------------------------------------------------------

def test_a_change_on_my_consent_is_listed_for_the_banner_and_answered(live_server, shop):
    site, _ = shop
    first = post(live_server, site, action="accept_all").json
    banner_url = f"{live_server}/api/v1/sites/{site.key}/banner"
    before = call("GET", banner_url)
    assert before.json["stale"] == []
    changed = form(f"{live_server}/my-consent/change", token=first["token"],
                   **{"purpose-marketing": "on", "language": "sv"})
    assert changed.status == 200
    after = call("GET", banner_url, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status == 200  # the list changed, so did the ETag
    assert after.json["stale"] == [first["receipt"]["receipt_id"][:8]]
    current = call("POST", f"{live_server}/api/v1/receipts/current", {"token": first["token"]},
                   headers=ORIGIN)
    assert current.status == 200
    assert current.json["state"] == "given"
    newest = history(site, first["receipt"]["subject_id"])[-1]
    assert current.json["receipt_id"] == newest["receipt_id"]
    claims = receipts.read_token(current.json["token"])
    assert claims["r"] == newest["receipt_id"] and claims["p"] == ["marketing", "necessary"]
    assert current.headers["Access-Control-Allow-Origin"] == "https://shop.example"


def test_an_erasure_is_answered_as_erased(live_server, shop):
    site, _ = shop
    first = post(live_server, site, action="accept_all").json
    second = post(live_server, site, action="reject_all", token=first["token"]).json
    form(f"{live_server}/my-consent/erase", token=second["token"], confirm="yes")
    banner = call("GET", f"{live_server}/api/v1/sites/{site.key}/banner").json
    assert set(banner["stale"]) == {first["receipt"]["receipt_id"][:8],
                                    second["receipt"]["receipt_id"][:8]}
    current = call("POST", f"{live_server}/api/v1/receipts/current", {"token": second["token"]})
    assert current.json == {"token": None, "reason": "erased"}


def test_current_state_refuses_bad_tokens_and_foreign_origins(live_server, shop):
    site, _ = shop
    first = post(live_server, site, action="accept_all").json
    bad = call("POST", f"{live_server}/api/v1/receipts/current", {"token": "x" + first["token"]})
    assert bad.status == 422 and "token" in bad.json["errors"]["json"]
    foreign = call("POST", f"{live_server}/api/v1/receipts/current", {"token": first["token"]},
                   headers={"Origin": "https://evil.example"})
    assert foreign.status == 403


def test_stale_marks_are_forgotten_after_their_receipts_expire(app, live_server, shop):
    from cmp_server.consent import sync

    site, _ = shop
    first = post(live_server, site, action="accept_all").json
    form(f"{live_server}/my-consent/change", token=first["token"], language="sv")
    assert db.session.scalar(select(StaleReceipt.receipt_id)) == first["receipt"]["receipt_id"]
    assert sync.purge_expired(datetime.now(timezone.utc)) == 0
    assert sync.purge_expired(datetime.now(timezone.utc) + timedelta(days=400)) == 1


# --- impressions -------------------------------------------------------------------------------

def test_impressions_count_only_from_registered_origins(live_server, shop):
    from cmp_server.consent.analytics import site_analytics

    site, _ = shop
    url = f"{live_server}/api/v1/sites/{site.key}/impressions"
    assert call("POST", url, headers={"Origin": "https://evil.example"}).status == 403
    assert call("POST", url).status == 403
    assert call("POST", url, headers=ORIGIN).status == 204
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    counted = site_analytics(site.key, today, today + timedelta(days=1))["impressions"]
    assert counted == 1


# --- the purge follows the ledger's order -------------------------------------------------------

def test_a_successor_in_the_same_second_ends_the_consent(live_server, shop, monkeypatch):
    from cmp_server.consent import retention, sealing

    site, _ = shop
    second = datetime.now(timezone.utc).replace(microsecond=0)
    monkeypatch.setattr(receipts, "now_utc", lambda: second)  # two quick clicks
    first = post(live_server, site, action="accept_all").json
    post(live_server, site, action="reject_all", token=first["token"])
    sealing.seal_now(batch_size=100)
    # superseded at once: kept for the longest retention of its vendors (Piwik PRO's 25
    # months) and then gone, long before the 12-month consent's expiry plus retention
    report = retention.purge(now=second + timedelta(days=31 * 25 + 5), dry_run=True)
    assert report.by_cause().get("superseded") == 1


# --- erasure never hands a number out twice -----------------------------------------------------

def test_records_after_an_erasure_never_take_an_erased_records_number(live_server, shop):
    site, _ = shop
    seqs = LEDGER_TABLES.records.c.seq
    for _ in range(3):  # each time the newest records go, then new ones come
        first = post(live_server, site, action="accept_all").json
        second = post(live_server, site, action="reject_all", token=first["token"]).json
        erased = form(f"{live_server}/my-consent/erase", token=second["token"], confirm="yes")
        assert erased.status == 200, erased.body[:300]
    newest = db.session.scalar(select(seqs).order_by(seqs.desc()).limit(1))
    assert newest is None  # all erased
    again = post(live_server, site, action="accept_all").json
    tombstones = LEDGER_TABLES.tombstones.c.record_seq
    number = db.session.scalar(select(seqs).where(
        LEDGER_TABLES.records.c.receipt_id == again["receipt"]["receipt_id"]))
    assert number > db.session.scalar(select(tombstones).order_by(tombstones.desc()).limit(1))


# --- the stale list stays bounded ---------------------------------------------------------------

def test_past_its_bound_the_stale_list_says_which_tokens_may_be_stale(live_server, shop,
                                                                      monkeypatch):
    from cmp_server.consent import sync

    monkeypatch.setattr(sync, "MAX_LISTED", 2)
    site, _ = shop
    visitors = [post(live_server, site, action="accept_all").json for _ in range(4)]
    for visitor in visitors:
        form(f"{live_server}/my-consent/change", token=visitor["token"], language="sv")
    banner = call("GET", f"{live_server}/api/v1/sites/{site.key}/banner").json
    newest = [v["receipt"]["receipt_id"][:8] for v in visitors[2:]]
    assert sorted(banner["stale"]) == sorted(newest)
    # the two left out were marked before stale_before, and so were their tokens made
    oldest = receipts.read_token(visitors[0]["token"])
    assert oldest["t"] < banner["stale_before"]
    current = call("POST", f"{live_server}/api/v1/receipts/current",
                   {"token": visitors[0]["token"]}).json
    assert receipts.read_token(current["token"])["t"] >= banner["stale_before"]


@pytest.fixture
def limited(app):
    app.config.update(CMP_RATE_LIMIT_PER_MINUTE=3)


def test_my_consent_posts_count_against_the_clients_rate_limit(limited, live_server, shop):
    site, _ = shop
    token = post(live_server, site, action="accept_all").json["token"]  # 1 of 3
    answers = [form(f"{live_server}/my-consent/change", token=token, language="sv").status
               for _ in range(5)]
    assert answers == [200, 200, 429, 429, 429]
