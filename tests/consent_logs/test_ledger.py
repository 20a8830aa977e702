"""The ledger in the app's database: sealing, verification, tamper evidence, keys."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from consent_logs import SigningKey, VerificationError
from cmp_server.platform.extensions import db
from cmp_server.models import ledger
from cmp_server.consent.receipts import record_consent
from cmp_server.consent.sealing import seal_now, signing_key


@pytest.fixture
def recorded(shop):
    site, version = shop
    for action in ("accept_all", "reject_all", "accept_all", "reject_all", "accept_all"):
        record_consent({"site": site.key, "config_version": version.number,
                        "action": action, "language": "en"}, None, "https://shop.example")
    return site


def conn():
    return db.session.connection()


def test_sealing_covers_every_record_once_and_is_idempotent(recorded):
    seals = seal_now(batch_size=2)
    assert [s.record_count for s in seals] == [2, 2, 1]
    assert [s.previous_root for s in seals[1:]] == [s.root for s in seals[:-1]]
    assert seal_now(batch_size=2) == []  # nothing new: no new seal
    assert ledger.verify(conn()) == 5


def test_records_appended_after_a_seal_go_into_the_next(recorded, shop):
    site, version = shop
    seal_now(batch_size=100)
    record_consent({"site": site.key, "config_version": 1, "action": "reject_all",
                    "language": "en"}, None, "https://shop.example")
    (seal,) = seal_now(batch_size=100)
    assert (seal.number, seal.record_count) == (2, 1)
    assert ledger.verify(conn()) == 6


def disable_history_triggers():
    """What an attacker with database access would do first."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ALTER TABLE consent_records DISABLE TRIGGER USER"))
        db.session.execute(text("ALTER TABLE ledger_seals DISABLE TRIGGER USER"))
    else:
        db.session.execute(text("DROP TRIGGER consent_records_no_update"))
        db.session.execute(text("DROP TRIGGER ledger_seals_no_update"))


def test_records_refuse_updates_in_the_database(recorded):
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text("UPDATE consent_records SET state = 'given'"))
    db.session.rollback()


def test_a_changed_record_is_caught_naming_its_seal(recorded):
    seal_now(batch_size=2)
    disable_history_triggers()
    db.session.execute(text(
        "UPDATE consent_records SET data = replace(data, '\"refused\"', '\"given\"') "
        "WHERE state = 'refused'"))
    db.session.commit()
    with pytest.raises(VerificationError) as caught:
        ledger.verify(conn())
    assert caught.value.where == "seal 1"
    assert "does not match its records" in caught.value.why


def test_a_deleted_record_is_caught(recorded):
    seal_now(batch_size=10)
    db.session.execute(text("DELETE FROM consent_records WHERE seq = (SELECT max(seq) FROM consent_records)"))
    db.session.commit()
    with pytest.raises(VerificationError, match="missing, and no tombstone"):
        ledger.verify(conn())


def test_a_rewritten_seal_is_caught(recorded):
    seal_now(batch_size=2)
    disable_history_triggers()
    db.session.execute(text("UPDATE ledger_seals SET body = replace(body, :old, :new) "
                            "WHERE number = 2"),
                       {"old": '"record_count":2', "new": '"record_count":3'})
    db.session.commit()
    with pytest.raises(VerificationError) as caught:
        ledger.verify(conn())
    assert (caught.value.where, caught.value.why) == ("seal 2", "signature does not verify")


def test_a_seal_by_an_unpublished_key_is_caught(recorded):
    seal_now(batch_size=10)
    stranger = SigningKey.generate()
    with pytest.raises(VerificationError, match="signed by unknown key"):
        ledger.verify(conn(), keys=[stranger.public])


def test_public_keys_are_published_with_their_ids(client, recorded):
    before = client.get("/.well-known/cmp-keys.json").json
    current = signing_key().public
    assert before["current"] == current.key_id
    assert before["keys"] == [{"kid": current.key_id, "alg": "Ed25519",
                               "public_key": current.public_key}]
    (seal,) = seal_now(batch_size=100)
    assert seal.key_id == current.key_id
    answer = client.get("/.well-known/cmp-keys.json")
    assert answer.json["keys"][0]["kid"] == seal.key_id
    assert "max-age" in answer.headers["Cache-Control"]


def test_seal_command(runner, recorded):
    result = runner.invoke(args=["cmp", "seal", "--batch-size", "3"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("seal 1: 3 records, root ")
    assert lines[-1].startswith("sealed 5 records in 2 seal(s) with key ")
    again = runner.invoke(args=["cmp", "seal"])
    assert again.output.strip().startswith("sealed 0 records in 0 seal(s)")


@pytest.mark.parametrize("rows", [0, 1, 2, 3, 4, 7, 9, 10])
def test_driver_batches_give_every_row_once_in_order(app, rows):
    """Read through a server-side cursor on PostgreSQL, the first batch through SQLAlchemy
    (which reads a row ahead) and the rest from the driver: none lost, none doubled, at
    every count around the batch size."""
    from sqlalchemy import literal, select, union_all

    from consent_logs.ledger import driver_batches

    numbers = [select(literal(n).label("n")) for n in range(rows)]
    statement = (union_all(*numbers).order_by("n") if rows > 1 else
                 numbers[0] if numbers else select(literal(0).label("n")).where(text("1 = 0")))
    batches = list(driver_batches(conn(), statement, 3))
    assert [len(batch) for batch in batches] == [3] * (rows // 3) + ([rows % 3] if rows % 3 else [])
    assert [row[0] for batch in batches for row in batch] == list(range(rows))
    # the session's connection is left as it was: no server-side cursor for what follows
    assert conn().execute(text("SELECT 1")).scalar() == 1
    assert not conn().get_execution_options().get("stream_results")
