"""The ledger's clock: records go when consent end + retention has passed, leaving
tombstones so the seals still verify."""
from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from cmp_server.platform.extensions import db
from cmp_server.models import LEDGER_TABLES, ledger
from cmp_server.consent.retention import purge
from cmp_server.consent.sealing import seal_now

NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)


def append(subject: str, issued: str, expires: str, state: str, retention: dict[str, int],
           previous: str | None = None) -> str:
    receipt_id = str(uuid.uuid4())
    receipt = {
        "record_format": 1, "receipt_id": receipt_id, "subject_id": subject, "site": "site-key",
        "config_version": 1, "config_hash": "sha256:x", "issued_at": issued,
        "expires_at": expires, "action": "custom", "state": state, "purposes": {},
        "vendors": {}, "vendor_retention_months": retention, "legal_basis": "GDPR Art. 6(1)(a)",
        "language": "en", "region": None, "gpc": False, "previous_receipt_id": previous,
        "collection_method": "api",
    }
    ledger.append(db.session.connection(), receipt, max(retention.values(), default=0))
    db.session.commit()
    return receipt_id


@pytest.fixture
def history(app):
    ids = {
        # expired 2025-01-01, Piwik PRO Enterprise keeps 25 months: until 2027-02-01
        "kept_enterprise": append("visitor-a-000000001", "2024-01-01T00:00:00Z",
                                  "2025-01-01T00:00:00Z", "given", {"piwik-pro": 25}),
        # expired 2025-01-01, Core tier 14 months: until 2026-03-01, so gone
        "gone_core": append("visitor-b-000000001", "2024-01-01T00:00:00Z",
                            "2025-01-01T00:00:00Z", "given", {"piwik-pro": 14}),
        # a refusal justifies no data: gone once its six months are over
        "gone_refusal": append("visitor-c-000000001", "2025-01-01T00:00:00Z",
                               "2025-07-01T00:00:00Z", "refused", {}),
        # given for 12 months from 2025-06, so still running
        "kept_active": append("visitor-d-000000001", "2025-06-01T00:00:00Z",
                              "2026-06-01T00:00:00Z", "given", {"mixpanel": 24}),
    }
    # superseded early: consent ended 2024-03-01 when the visitor changed their mind,
    # 14 months later (2025-05-01) it is gone although it would have run until 2025-02
    ids["gone_superseded"] = append("visitor-e-000000001", "2024-02-01T00:00:00Z",
                                    "2025-02-01T00:00:00Z", "given", {"piwik-pro": 14})
    ids["kept_successor"] = append("visitor-e-000000001", "2024-03-01T00:00:00Z",
                                   "2025-03-01T00:00:00Z", "given", {"piwik-pro": 25})
    seal_now(batch_size=100)
    # not sealed yet: never purged, whatever its age
    ids["kept_unsealed"] = append("visitor-f-000000001", "2020-01-01T00:00:00Z",
                                  "2020-07-01T00:00:00Z", "refused", {})
    return ids


def remaining() -> set[str]:
    return set(db.session.execute(select(LEDGER_TABLES.records.c.receipt_id)).scalars())


def test_purge_removes_exactly_what_the_rules_say(history):
    report = purge(now=NOW)
    gone = {k for k in history if k.startswith("gone")}
    assert report.removed == 3
    assert remaining() == {history[k] for k in history if k.startswith("kept")}
    assert report.by_cause() == {"expired": 2, "superseded": 1}
    reasons = dict(db.session.execute(select(LEDGER_TABLES.tombstones.c.receipt_id,
                                             LEDGER_TABLES.tombstones.c.reason)).all())
    assert reasons[history["gone_core"]] == "retention: expired 2025-01-01, kept 14 months after"
    # seals still verify: the tombstones keep the leaf hashes
    assert ledger.verify(db.session.connection()) == 6
    tombstones = db.session.execute(select(LEDGER_TABLES.tombstones)).all()
    assert {t.receipt_id for t in tombstones} == {history[k] for k in gone}
    assert purge(now=NOW).removed == 0  # idempotent


def test_dry_run_changes_nothing(history):
    before = remaining()
    report = purge(now=NOW, dry_run=True)
    assert report.removed == 3
    assert remaining() == before


def test_purge_command_shows_progress_and_summary(runner, history):
    dry = runner.invoke(args=["cmp", "purge", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "scanned 6/7 records" in dry.output
    assert "would remove 3 of 7 records" in dry.output
    done = runner.invoke(args=["cmp", "purge"])
    assert "removed 2 (expired)" in done.output and "removed 1 (superseded)" in done.output
    assert len(remaining()) == 4


def test_purge_removes_more_than_one_batch(app, monkeypatch):
    """Batches commit while the scan goes on (a regression: the scan's connection closed),
    and the scan reads ahead in batches of its own."""
    import cmp_server.consent.retention as retention_module

    monkeypatch.setattr(retention_module, "PURGE_BATCH", 2)  # SQLite's
    monkeypatch.setattr(retention_module, "MOST_REMOVALS", 2)  # PostgreSQL's
    for index in range(5):
        append(f"visitor-g-00000000{index}", "2020-01-01T00:00:00Z", "2020-07-01T00:00:00Z",
               "refused", {})
    seal_now(batch_size=100)
    judged = list(ledger.expired_records(db.session.connection(), NOW, batch=2))
    db.session.commit()
    assert [r.seq for r in judged] == sorted(r.seq for r in judged) and len(judged) == 5
    written = []
    original = retention_module.RemovalWriter._write
    monkeypatch.setattr(retention_module.RemovalWriter, "_write",
                        lambda self, removals: written.append(len(removals)) or
                        original(self, removals))
    report = purge(now=NOW)
    assert report.removed == 5 and remaining() == set()
    assert written == [2, 2, 1]
    assert ledger.verify(db.session.connection()) == 5


def test_the_purge_skips_only_records_too_young_to_be_expired(app):
    """The purge looks only at records issued at least their retention before now, with a
    margin for short months: a withdrawal of 31 March kept one month is due on 30 April
    (the calendar's last day), and is removed then, not a day later; one issued a day later
    is kept."""
    due = append("visitor-g-000000001", "2026-03-31T00:00:00Z", "2027-03-31T00:00:00Z",
                 "withdrawn", {"mixpanel": 1})
    young = append("visitor-h-000000001", "2026-04-01T00:00:00Z", "2027-04-01T00:00:00Z",
                   "withdrawn", {"mixpanel": 1})
    seal_now(batch_size=100)
    report = purge(now=datetime(2026, 4, 30, 0, 0, 1, tzinfo=timezone.utc))
    assert report.removed == 1
    held = set(db.session.execute(select(LEDGER_TABLES.records.c.receipt_id)).scalars())
    assert held == {young} and due not in held


def test_a_record_erased_while_the_purge_ran_is_skipped(history):
    """The purge judges on one connection and writes on another: a record erased in
    between (a data subject's request) is not written twice, and the rest still go."""
    judged = list(ledger.expired_records(db.session.connection(), NOW))
    erased = judged[0]
    db.session.commit()
    with db.engine.begin() as conn:
        ledger.replace_by_tombstones(conn, [erased._replace(reason="erasure: request 1")], NOW)
    with db.engine.begin() as conn:
        ledger.replace_by_tombstones(conn, judged, NOW)
    tombstones = db.session.execute(select(LEDGER_TABLES.tombstones)).all()
    assert len(tombstones) == len(judged) == 3
    assert {t.reason for t in tombstones if t.record_seq == erased.seq} == {"erasure: request 1"}
    assert ledger.verify(db.session.connection()) == 6  # the sealed ones


@pytest.mark.parametrize("engine_name", [pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_record_erased_while_the_purge_writes_it_does_not_fail_the_batch(history):
    """On PostgreSQL an erasure can commit while a purge batch (100,000 removals) is being
    written: the batch waits for the erasure's tombstone, then leaves it standing and goes
    on, instead of failing on the duplicate and taking the export that ran it down too.
    (SQLite's single writer makes one wait for the other before it reads.)"""
    import threading
    import time

    judged = list(ledger.expired_records(db.session.connection(), NOW))
    erased = judged[0]
    db.session.commit()
    erasing = db.engine.connect()
    erasing.begin()
    ledger.replace_by_tombstones(erasing, [erased._replace(reason="erasure: request 1")], NOW)
    failures, engine = [], db.engine

    def write_the_batch():
        try:
            with engine.begin() as conn:
                ledger.replace_by_tombstones(conn, judged, NOW)
        except Exception as failure:  # told to the test below
            failures.append(failure)

    writer = threading.Thread(target=write_the_batch)
    writer.start()
    time.sleep(0.5)
    assert writer.is_alive(), failures  # waiting for the erasure's tombstone
    erasing.commit()
    erasing.close()
    writer.join(10)
    assert not writer.is_alive() and failures == []
    tombstones = db.session.execute(select(LEDGER_TABLES.tombstones)).all()
    assert len(tombstones) == 3
    assert {t.reason for t in tombstones if t.record_seq == erased.seq} == {"erasure: request 1"}
    assert ledger.verify(db.session.connection()) == 6


@pytest.mark.parametrize("size, seconds, expected", [
    (5_000, 0.25, 20_000),       # fast: grows, at most fourfold at a time
    (20_000, 1.0, 40_000),       # to what fits in WRITE_SECONDS (2 s)
    (80_000, 0.5, 100_000),      # never past MOST_REMOVALS
    (40_000, 16.0, 5_000),       # a slow disk: back to the first batch, not below
])
def test_purge_batches_fit_a_short_write_lock(size, seconds, expected):
    from cmp_server.consent.retention import next_batch

    assert next_batch(size, seconds) == expected


@pytest.mark.parametrize("engine_name", ["sqlite"])  # PostgreSQL's VACUUM is its own matter
def test_a_purged_record_leaves_no_trace_in_the_database_file(history):
    """secure_delete: the removed record's bytes are overwritten, not left in free space
    for anyone who copies the file."""
    purge(now=NOW)
    db.session.commit()
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    path = Path(db.engine.url.database)
    stored = path.read_bytes() + Path(f"{path}-wal").read_bytes()
    assert b"visitor-a-000000001" in stored  # kept: the check can see a record
    assert b"visitor-b-000000001" not in stored and b"visitor-c-000000001" not in stored


# --- a purge after another: only what may have ended since -------------------------------

def judged_by(now: datetime, since) -> list[tuple[int, str]]:
    removals = [(r.seq, r.reason) for r in
                ledger.expired_records(db.session.connection(), now, since=since)]
    db.session.commit()
    return removals


def candidates(now: datetime, since) -> int:
    """How many records a purge looks at closely (asks for their visitor's next record)."""
    from sqlalchemy import func

    conn = db.session.connection()
    condition = ledger._purge_candidates(conn, now, since, ledger.retentions(conn, since))
    count = conn.execute(select(func.count()).select_from(LEDGER_TABLES.records)
                         .where(condition)).scalar_one()
    db.session.commit()
    return count


def test_a_purge_after_another_removes_exactly_what_judging_every_record_would(app):
    """Visitors choose over six years (new ones, returning ones replacing their last
    choice, withdrawals, refusals; retentions from none to 25 months; some records still
    unsealed at a purge, some visitors erased), and a purge runs every few days to weeks.
    Each purge after the first relies on the last one's mark: it must remove exactly the
    records, for exactly the reasons, that judging the whole ledger at that moment finds,
    while looking closely at far fewer of them."""
    import random

    from consent_logs.timeutil import add_months, utc_iso

    rng = random.Random(26)
    subjects: dict[str, str | None] = {}  # visitor -> their newest receipt id
    moment = datetime(2021, 1, 1, tzinfo=timezone.utc)
    purged_at = moment
    full_looks = narrow_looks = 0
    causes: Counter = Counter()  # of the removals that relied on a mark
    forgotten = 0  # purges that left no mark
    for step in range(60):
        purged_at += timedelta(days=rng.choice([1, 1, 2, 7, 30]), hours=rng.randint(0, 23))
        while moment < purged_at - timedelta(days=1):
            moment += timedelta(hours=rng.randint(1, 60), seconds=rng.randint(0, 59))
            returning = subjects and rng.random() < 0.4
            subject = (rng.choice(sorted(subjects)) if returning
                       else f"visitor-{len(subjects):04d}-000000")
            state = rng.choices(["given", "refused", "withdrawn"], [5, 3, 1 if returning else 0])[0]
            months = rng.choice([0, 0, 1, 6, 14, 25]) if state != "refused" else rng.choice([0, 1])
            lifetime = rng.choice([1, 6, 12]) if state != "withdrawn" else 12
            # now and then a wrong clock stamps a returning visitor's choice weeks early
            stamped = moment - timedelta(days=rng.randint(5, 60)) if (
                returning and rng.random() < 0.05) else moment
            subjects[subject] = append(subject, utc_iso(stamped),
                                       utc_iso(add_months(stamped, lifetime)), state,
                                       {"vendor": months} if months else {},
                                       previous=subjects.get(subject))
        if rng.random() < 0.8:  # now and then, the last records are not sealed yet
            seal_now(batch_size=50)
        if step % 10 == 9:  # a visitor asks to be erased
            erased = rng.choice(sorted(subjects))
            with db.engine.begin() as conn:
                sealed = not ledger.unsealed(conn, [seq for seq, _ in ledger.subject_records(
                    conn, "site-key", erased)])
                if sealed:
                    ledger.erase_subject(conn, "site-key", erased, "erasure: request", purged_at)
        mark = ledger.purge_mark(db.session.connection())
        db.session.commit()
        expected = judged_by(purged_at, None)
        assert judged_by(purged_at, mark) == expected, f"purge {step} at {purged_at}"
        full_looks += candidates(purged_at, None)
        narrow_looks += candidates(purged_at, mark)
        report = purge(now=purged_at)
        assert report.removed == len(expected)
        if mark:
            causes.update(report.by_cause())
        left = ledger.purge_mark(db.session.connection())
        db.session.commit()
        # none after removing a record stamped after its visitor's next one
        assert left is None or left.at == purged_at
        forgotten += left is None
    assert ledger.verify(db.session.connection()) > 0
    # the marks were relied on, for every way a consent ends, and spared most close looks;
    # a few purges were left no mark to rely on
    assert set(causes) == {"expired", "superseded", "withdrawn"} and min(causes.values()) > 5
    assert 0 < forgotten < 10, forgotten
    assert narrow_looks < full_looks / 3, (narrow_looks, full_looks)


def test_a_dry_run_leaves_no_mark_and_a_purge_as_of_an_earlier_moment_still_removes(history):
    """A dry run removes nothing, so it cannot vouch for anything; a purge judging as of a
    moment before the last one's mark (a clock set back) still removes what is due then."""
    purge(now=NOW, dry_run=True)
    assert ledger.purge_mark(db.session.connection()) is None
    purge(now=NOW)
    mark = ledger.purge_mark(db.session.connection())
    assert mark.at == NOW and mark.through == ledger.sealed_position(db.session.connection())
    db.session.commit()
    late = append("visitor-k-000000001", "2024-01-01T00:00:00Z", "2024-07-01T00:00:00Z",
                  "refused", {})
    seal_now(batch_size=100)
    earlier = datetime(2025, 6, 1, tzinfo=timezone.utc)
    expected = judged_by(earlier, None)  # the late one, and the one sealed with it
    assert judged_by(earlier, mark) == expected and len(expected) == 2
    assert purge(now=earlier).removed == 2 and late not in remaining()


def test_a_purge_relies_only_on_a_recent_mark_behind_little_of_the_ledger(app):
    """Judging from a mark looks closely at every record sealed after it and at windows as
    long as the time since it: a mark left on a young ledger, or a month and more ago,
    would cost more than judging every record (a mark left on an empty ledger made the
    next purge of a million records look up the visitor's previous record for each)."""
    purge(now=NOW)  # nothing yet
    empty = ledger.purge_mark(db.session.connection())
    assert empty.through == 0
    for index in range(4):
        append(f"visitor-m-00000000{index}", "2025-01-01T00:00:00Z", "2025-07-01T00:00:00Z",
               "refused", {})
    seal_now(batch_size=100)
    conn = db.session.connection()
    assert not ledger.worth_relying_on(conn, empty, NOW)
    assert purge(now=NOW).removed == 4  # judged every record
    conn = db.session.connection()
    full = ledger.purge_mark(conn)
    assert full.through == 4 and ledger.worth_relying_on(conn, full, NOW)
    assert ledger.worth_relying_on(conn, full, NOW + timedelta(days=31))
    assert not ledger.worth_relying_on(conn, full, NOW + timedelta(days=32))
    assert not ledger.worth_relying_on(conn, full, NOW - timedelta(seconds=1))
    db.session.commit()


def test_a_choice_recorded_after_a_purge_but_stamped_before_it_still_ends_the_last_one(app):
    """A visitor's next choice that reaches the ledger only after a purge, stamped months
    earlier (recorded on a server whose clock was wrong, or imported), supersedes their
    last record then: the next purge removes that record though neither moment falls in
    the time since the last purge."""
    first = append("visitor-l-000000001", "2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z",
                   "given", {"mixpanel": 1})
    seal_now(batch_size=100)
    purge(now=datetime(2020, 6, 1, tzinfo=timezone.utc))
    assert first in remaining()  # consent runs until 2021, kept a month more
    append("visitor-l-000000001", "2020-02-01T00:00:00Z", "2020-08-01T00:00:00Z", "refused",
           {}, previous=first)
    seal_now(batch_size=100)
    report = purge(now=datetime(2020, 6, 2, tzinfo=timezone.utc))
    assert first not in remaining()
    assert report.by_cause() == {"superseded": 1}


def test_a_retention_first_seen_after_the_mark_is_judged_too(app):
    """The mark notes the retentions its records hold, so the next purge need not read the
    whole ledger for them; one that only records after the mark hold is still judged."""
    for index in range(3):
        append(f"visitor-n-00000000{index}", "2026-11-01T00:00:00Z", "2027-05-01T00:00:00Z",
               "refused", {})
    seal_now(batch_size=100)
    purge(now=NOW)
    assert ledger.purge_mark(db.session.connection()).months == (0,)
    db.session.commit()
    due = append("visitor-n-000000009", "2020-01-01T00:00:00Z", "2020-07-01T00:00:00Z",
                 "given", {"mixpanel": 13})
    seal_now(batch_size=100)
    assert purge(now=NOW + timedelta(days=1)).removed == 1 and due not in remaining()
    assert ledger.purge_mark(db.session.connection()).months == (0, 13)
    db.session.commit()


def test_a_removal_that_ends_an_earlier_record_sooner_leaves_no_mark(app):
    """A visitor's records stamped out of order (a wrong clock): removing one whose next
    record was stamped months before it brings the end of the record before it earlier.
    No purge relying on a mark would look at that one again, so the purge that removed it
    leaves none, and the next one judges every record and removes it."""
    first = append("visitor-s-000000001", "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z",
                   "given", {"vendor": 1})
    refusal = append("visitor-s-000000001", "2024-06-01T00:00:00Z", "2024-12-01T00:00:00Z",
                     "refused", {}, previous=first)
    # recorded after the refusal, stamped four months before it
    append("visitor-s-000000001", "2024-02-01T00:00:00Z", "2025-02-01T00:00:00Z",
           "given", {"vendor": 25}, previous=refusal)
    seal_now(batch_size=100)
    purge(now=datetime(2024, 6, 15, tzinfo=timezone.utc))
    # the refusal went (superseded in February); the first was then ended by the refusal
    # (June, kept a month): kept
    assert refusal not in remaining() and first in remaining()
    assert ledger.purge_mark(db.session.connection()) is None
    db.session.commit()
    report = purge(now=datetime(2024, 6, 16, tzinfo=timezone.utc))
    assert first not in remaining()
    assert report.by_cause() == {"superseded": 1}


def test_a_purge_takes_a_moment_without_a_time_zone_as_utc(history):
    """As before the marks: a naive moment is UTC."""
    purge(now=NOW)
    assert purge(now=NOW.replace(tzinfo=None) + timedelta(days=1)).removed == 0
    assert ledger.purge_mark(db.session.connection()).at == NOW + timedelta(days=1)
