"""The ledger's tables, defined on whichever SQLAlchemy MetaData the caller owns (the
Flask app passes its own so one set of migrations creates everything).

Only INSERTs touch ``consent_records``, ``ledger_seals``, ``ledger_seal_members`` and
``ledger_keys``; the purge is the one exception, replacing a record by its tombstone.
``ledger_purge_marks`` is the purge's note of what it has judged, rewritten by each purge.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit sequence.
Seq = BigInteger().with_variant(Integer(), "sqlite")


@dataclass(frozen=True)
class LedgerTables:
    records: Table
    seals: Table
    seal_members: Table
    keys: Table
    tombstones: Table
    purge_marks: Table


def ledger_tables(metadata: MetaData) -> LedgerTables:
    records = Table(
        "consent_records", metadata,
        Column("seq", Seq, primary_key=True, autoincrement=True),
        Column("receipt_id", String(36), nullable=False, unique=True),
        Column("site", String(32), nullable=False),
        Column("subject_id", String(64), nullable=False),
        Column("issued_at", DateTime(timezone=True), nullable=False),
        Column("expires_at", DateTime(timezone=True), nullable=False),
        Column("state", String(16), nullable=False),
        Column("previous_receipt_id", String(36), nullable=True),
        # The longest data retention among the vendors this record justifies (months).
        Column("retention_months", Integer, nullable=False),
        Column("data", Text, nullable=False),  # canonical JSON: the exact hashed bytes
        Column("leaf_hash", String(64), nullable=False),
        # A visitor's records in ledger order: status, history, erasure, and the purge's
        # "next record of this visitor" (without it the purge is quadratic). Also serves a
        # site's export. Deliberately the only index led by site: given a second one, SQLite
        # without statistics picks it for the purge and the purge turns quadratic again.
        Index("ix_consent_records_subject", "site", "subject_id", "seq"),
        # A record has at most one successor: a subject's history is one chain, and two
        # choices racing to follow the same record cannot both be stored (the loser links
        # to the winner instead).
        Index("uq_consent_records_previous", "previous_receipt_id", unique=True),
        # a number is never handed out twice, though erasure and the purge delete rows:
        # their tombstones and seal memberships keep the numbers
        sqlite_autoincrement=True,
    )
    keys = Table(
        "ledger_keys", metadata,
        Column("key_id", String(16), primary_key=True),
        Column("algorithm", String(16), nullable=False),
        Column("public_key", String(64), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
    )
    seals = Table(
        "ledger_seals", metadata,
        Column("number", Integer, primary_key=True, autoincrement=False),
        Column("record_count", Integer, nullable=False),
        Column("root", String(64), nullable=False),
        Column("previous_root", String(64), nullable=True),
        Column("sealed_at", DateTime(timezone=True), nullable=False),
        Column("key_id", ForeignKey("ledger_keys.key_id"), nullable=False),
        Column("body", Text, nullable=False),  # canonical JSON that was signed
        Column("signature", String(128), nullable=False),
    )
    seal_members = Table(
        "ledger_seal_members", metadata,
        # On PostgreSQL a trigger per statement stands in for this key (migration 0016):
        # it checked the key with a query per member, most of sealing's work there.
        Column("seal_number", ForeignKey("ledger_seals.number"), primary_key=True),
        Column("position", Integer, primary_key=True, autoincrement=False),
        # unique: a record is in one seal only, which is what makes concurrent sealers safe
        Column("record_seq", Seq, nullable=False, unique=True),
    )
    tombstones = Table(
        "ledger_tombstones", metadata,
        Column("record_seq", Seq, primary_key=True, autoincrement=False),
        Column("receipt_id", String(36), nullable=False, unique=True),
        Column("site", String(32), nullable=False, index=True),  # not personal: the website
        Column("leaf_hash", String(64), nullable=False),
        Column("reason", String(200), nullable=False),
        Column("removed_at", DateTime(timezone=True), nullable=False),
        # after an erasure request: the record without subject id, region and language
        Column("redacted", Text, nullable=True),
    )
    # What the last purge judged (consent_logs.ledger.PurgeMark), one row per version of
    # the rules it judged by: a later purge looks again only at what may have ended since.
    purge_marks = Table(
        "ledger_purge_marks", metadata,
        Column("rules", Integer, primary_key=True, autoincrement=False),
        Column("judged_through", Seq, nullable=False),
        Column("judged_at", DateTime(timezone=True), nullable=False),
        # every retention the records it judged hold, e.g. "0,14,25"
        Column("retention_months", Text, nullable=False),
    )
    return LedgerTables(records, seals, seal_members, keys, tombstones, purge_marks)
