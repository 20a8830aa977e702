"""The consent ledger: append records, seal them in signed Merkle batches, check seals.

Appending is one INSERT in the caller's transaction: no lock, no counter to update, so
writers scale on a database server. Sealing is a batch job. A seal takes the records after
the last sealed one (its position: the highest member's sequence number, read from the
members' unique index, so a seal never scans the ledger), in ledger order, and lists them
as its members; ``record_seq`` is unique among members and ``number`` among seals, so two
sealers racing each other (or a sealer racing writers) can never put a record in two seals
or fork the chain: the loser's transaction fails on a constraint and it tries again.

Keeping a position is safe only if no record can commit later with a lower sequence number
than one already sealed. On SQLite a writer holds the database's write lock from its
insert to its commit, so records commit in sequence order. On PostgreSQL a sequence hands
out numbers before commit, so a sealing run first fixes its horizon: in a moment's
transaction it takes a SHARE lock on the records table, which waits for the inserts in
flight to end and holds new ones off until it commits (a few milliseconds, once per run,
never per record), and reads the highest sequence number then stored. Every record at or
below the horizon is committed (or rolled back for good); the run seals up to it, and a
record that commits later goes into the next run.
"""
from __future__ import annotations

import json
import time
from collections import deque
from contextlib import closing
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Callable, Iterable, Iterator, NamedTuple, TypeVar

from sqlalchemy import (Connection, DateTime, Engine, String, and_, exists, false, func, insert,
                        literal, or_, select, table, column, type_coerce, union)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from consent_logs.canonical import canonical_json
from consent_logs.keys import ALGORITHM, PublicKey, SigningKey
from consent_logs.read_ahead import read_ahead
from consent_logs.schema import LedgerTables
from consent_logs.seals import Seal, VerificationError, check_seal, record_leaf, seal_body
from consent_logs.timeutil import add_months, as_utc, parse_utc, stored_naive_utc
from consent_logs.writer import PLACEHOLDERS, RowWriter

DEFAULT_BATCH = 10_000
# The version of the purge's rules (consent_end, the retention added to it): a purge mark
# left by other rules is not relied on.
PURGE_RULES = 1
# How far a calendar-month bound is widened to be sure to include every moment it should:
# months differ by up to three days. A purge relying on an earlier one's mark counts on the
# rest of it for a clock that stamped a visitor's next choice before their previous one;
# a purge that finds a larger disorder leaves no mark (Ledger.expired_records).
MONTH_MARGIN = timedelta(days=4)
# The oldest purge mark a purge relies on (see Ledger.worth_relying_on).
MARK_DAYS = 31
SEAL_ATTEMPTS = 8
LOCK_WAIT_MS = 2000  # an overlapped seal's longest wait for a row another sealer holds


PERSONAL_FIELDS = ("subject_id", "region", "language")
# the consent_records columns a row sets (seq is the database's)
ROW_COLUMNS = ("receipt_id", "site", "subject_id", "issued_at", "expires_at", "state",
               "previous_receipt_id", "retention_months", "data", "leaf_hash")


def redact(record: dict[str, Any]) -> dict[str, Any]:
    """A record without the parts that relate it to a person."""
    return {key: value for key, value in record.items() if key not in PERSONAL_FIELDS}


class Removal(NamedTuple):
    """A sealed record to replace by a tombstone: past its retention, or erased on the
    data subject's request (then ``redacted`` is its non-personal parts, canonical JSON).
    A plain tuple: a purge holds tens of thousands of them between two writes."""

    seq: int
    reason: str
    redacted: str | None = None


# Where a batch of removals waits, in the writing transaction, for the two statements that
# carry it out (one INSERT ... SELECT of the tombstones, one DELETE of the records).
REMOVALS = "ledger_removals"


Moment = TypeVar("Moment", datetime, str)


def consent_end(state: str, issued: Moment, expires: Moment,
                next_issued: Moment | None) -> tuple[Moment, str]:
    """When the consent a record stands for ended, and why. The moments are datetimes or,
    as SQLite stores them, text of one fixed format (which orders as time does). A consent
    cannot end before it began: a next record stamped before this one (a wrong clock)
    ended it as it began."""
    if state == "withdrawn":
        return issued, "withdrawn"
    if next_issued is not None and next_issued <= expires:
        return max(issued, next_issued), "superseded"
    return expires, "expired"


def stamped_before(later: Moment, earlier: Moment) -> bool:
    """Whether a visitor's later record was stamped more than MONTH_MARGIN before their
    earlier one (stored moments: datetimes, or SQLite's text)."""
    return stored_naive_utc(later) < stored_naive_utc(earlier) - MONTH_MARGIN


@lru_cache(maxsize=4096)
def retention_reason(cause: str, ended: date, months: int) -> str:
    """A tombstone's reason; the same few hundred texts recur, so they are shared."""
    return f"retention: {cause} {ended:%Y-%m-%d}, kept {months} months after"


def copy_rows(conn: Connection, into, columns: tuple[str, ...], rows: Iterable[tuple],
              text: Callable[[], str] | None = None) -> None:
    """Insert plain tuples into the table ``into`` the fastest way the database takes them:
    COPY through psycopg on PostgreSQL (``text``, when given, makes the rows' COPY text in
    one go: integers need no escaping, and a row at a time through psycopg was a tenth of a
    seal's time), else one executemany (no dict or bound parameter object per row). A
    database error comes out as SQLAlchemy's own class, so a caller can tell a lost race
    (IntegrityError) from the rest."""
    dialect = conn.dialect
    preparer = dialect.identifier_preparer
    target = f"{preparer.format_table(into)} ({', '.join(map(preparer.quote, columns))})"
    raw = conn.connection.dbapi_connection
    if dialect.name == "postgresql" and hasattr(raw.cursor(), "copy"):
        statement = f"COPY {target} FROM STDIN"
        try:
            with raw.cursor() as cursor, cursor.copy(statement) as copy:
                if text is not None:
                    copy.write(text())
                else:
                    for row in rows:
                        copy.write_row(row)
        except dialect.loaded_dbapi.Error as error:
            raise DBAPIError.instance(statement, None, error, dialect.loaded_dbapi.Error,
                                      hide_parameters=True, dialect=dialect) from error
        return
    marker = PLACEHOLDERS[dialect.paramstyle]
    conn.exec_driver_sql(f"INSERT INTO {target} "
                         f"VALUES ({', '.join([marker] * len(columns))})", list(rows))


def driver_batches(conn: Connection, statement, batch: int) -> Iterator[list]:
    """The rows of ``statement``, ``batch`` at a time, as the driver gives them (plain
    tuples: SQLAlchemy's row objects cost more than the reading for a million rows), read
    through a server-side cursor on PostgreSQL."""
    with conn.execute(statement, execution_options={"stream_results": True}) as result:
        # the first batch through SQLAlchemy, which may hold a row it read ahead
        rows = result.fetchmany(batch)
        if rows:
            yield rows
        if len(rows) < batch:
            return
        while rows := result.cursor.fetchmany(batch):
            yield rows


@dataclass(frozen=True)
class ChainEnd:
    """Where the seal chain ends: the last seal's number and root, and the position (the
    highest sealed record's sequence number). The next seal follows on from it."""

    number: int
    root: str | None
    position: int


@dataclass(frozen=True)
class PurgeMark:
    """What a purge judged: every sealed record up to ``through`` (the sealing position
    before it began), as of ``at`` (the moment it judged them against); the ones past their
    retention then were removed."""

    through: int
    at: datetime
    months: tuple[int, ...]  # every retention the records up to ``through`` hold


@dataclass(frozen=True)
class Batch:
    """A seal made and signed but not yet written, with its members' sequence numbers."""

    seal: Seal
    sealed_at: datetime
    seqs: list[int]

    @property
    def end(self) -> ChainEnd:
        return ChainEnd(self.seal.number, self.seal.root, self.seqs[-1])


class Ledger:
    def __init__(self, tables: LedgerTables):
        self.t = tables
        self._insert_record = insert(tables.records)  # built once: appends are the hot path

    # --- writing ----------------------------------------------------------------------

    @staticmethod
    def row(record: dict[str, Any], retention_months: int) -> dict[str, Any]:
        """The consent_records row for a record: its canonical bytes and their leaf hash,
        beside the columns that queries filter on."""
        data = canonical_json(record)
        return {
            "receipt_id": record["receipt_id"],
            "site": record["site"],
            "subject_id": record["subject_id"],
            "issued_at": parse_utc(record["issued_at"]),
            "expires_at": parse_utc(record["expires_at"]),
            "state": record["state"],
            "previous_receipt_id": record.get("previous_receipt_id"),
            "retention_months": retention_months,
            "data": data.decode("utf-8"),
            "leaf_hash": record_leaf(data),
        }

    def append(self, conn: Connection, record: dict[str, Any], retention_months: int) -> int:
        """Insert one record in the caller's transaction; the caller commits, and only then
        may it acknowledge the record. Returns the record's ledger sequence number."""
        result = conn.execute(self._insert_record, self.row(record, retention_months))
        return result.inserted_primary_key[0]

    def writer(self, engine: Engine) -> RowWriter:
        """A writer of rows made by ``row``: each batch one statement on a connection of
        its own, durable after ``sync`` (consent_logs.writer; group_commit batches)."""
        return RowWriter(engine, self.t.records, list(ROW_COLUMNS))

    def seal(self, engine: Engine, key: SigningKey, batch_size: int = DEFAULT_BATCH,
             now: datetime | None = None) -> list[Seal]:
        """Seal every record not yet sealed, in batches of at most ``batch_size``.
        Idempotent: with nothing new it makes no seal. A run that loses a race to another
        sealer keeps the seals it committed and goes on from the chain's new end."""
        made: list[Seal] = []
        horizon = self._horizon(engine)
        run = self._seal_in_turn if horizon is None else self._seal_overlapped
        failures = 0
        while True:
            before = len(made)
            try:
                run(engine, key, batch_size, now, horizon, made)
                return made
            except (IntegrityError, OperationalError):
                # another sealer took these records or this seal number, or SQLite's
                # snapshot went stale under a concurrent writer: look again
                failures = 1 if len(made) > before else failures + 1
                if failures == SEAL_ATTEMPTS:
                    raise
                time.sleep(0.05 * failures)

    def _horizon(self, engine: Engine) -> int | None:
        """The sequence number at or below which every record has committed (or never
        will), on PostgreSQL; None on SQLite, whose records commit in sequence order."""
        if engine.dialect.name != "postgresql":
            return None
        records = self.t.records
        with engine.begin() as conn:
            table = conn.dialect.identifier_preparer.format_table(records)
            conn.exec_driver_sql(f"LOCK TABLE {table} IN SHARE MODE")
            return conn.execute(select(func.max(records.c.seq))).scalar() or 0

    def _seal_in_turn(self, engine: Engine, key: SigningKey, batch_size: int,
                      now: datetime | None, horizon: int | None, made: list[Seal]) -> None:
        """One seal per transaction, each starting from the chain's end as it reads it then
        (SQLite: one writer at a time, nothing to overlap)."""
        while True:
            with engine.begin() as conn:
                batch = self._next_batch(conn, key, self._chain_end(conn), batch_size, now,
                                         horizon)
                if batch is None:
                    return
                self._register_key(conn, key)
                self._write_seal(conn, batch)
            made.append(batch.seal)

    def _seal_overlapped(self, engine: Engine, key: SigningKey, batch_size: int,
                         now: datetime | None, horizon: int | None, made: list[Seal]) -> None:
        """PostgreSQL: two connections take turns, so that while one seal's members are
        written the next seal is read, hashed and written on the other. Writing members is
        mostly the server's work (per row, two index entries and the foreign-key check:
        about three quarters of a seal's time), which one connection keeps on one core.

        The next seal follows on from the one in flight (its number, root and last record),
        so it may commit only after that one: seals commit in chain order, and if one fails
        the one after it is rolled back. Racing sealers stay safe as ever (the unique
        constraints); see _write_behind for why their waits are bounded."""
        with engine.connect() as first, engine.connect() as second, \
                ThreadPoolExecutor(2, thread_name_prefix="sealer") as writers:
            idle: deque[Connection] = deque([first, second])
            busy: deque[tuple[Connection, Batch, Future]] = deque()
            end = None
            try:
                while True:
                    conn = idle.popleft()
                    batch = self._next_batch(conn, key, end or self._chain_end(conn),
                                             batch_size, now, horizon)
                    if batch is None:
                        conn.rollback()
                        break
                    if end is None:  # both connections' seals refer to it: committed first
                        with engine.begin() as registering:
                            self._register_key(registering, key)
                    busy.append((conn, batch, writers.submit(self._write_behind, conn, batch)))
                    end = batch.end
                    if not idle:
                        idle.append(self._commit_oldest(busy, made))
                while busy:
                    self._commit_oldest(busy, made)
            finally:
                for conn, _, write in busy:
                    wait([write])
                    conn.rollback()

    @staticmethod
    def _commit_oldest(busy: deque, made: list[Seal]) -> Connection:
        """Commit the oldest seal in flight once written; its connection, free again.
        (Left in ``busy`` if it fails, to be rolled back.)"""
        conn, batch, write = busy[0]
        write.result()
        conn.commit()
        busy.popleft()
        made.append(batch.seal)
        return conn

    def _write_behind(self, conn: Connection, batch: Batch) -> None:
        """_write_seal for _seal_overlapped, its lock waits bounded (LOCK_WAIT). A seal
        written while the one before it is in flight stays uncommitted until that one
        commits, so another sealer may wait for it while that one waits for the sealer: a
        cycle through this process that the server cannot see. The bound breaks it (both
        seals roll back; the run goes on from the chain's new end). A failed write is rolled
        back at once, not left holding rows that others wait for."""
        try:
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_WAIT_MS}ms'")
            self._write_seal(conn, batch)
        except BaseException:
            conn.rollback()
            raise

    def _chain_end(self, conn: Connection) -> ChainEnd:
        """The last seal and the position, in one round trip: the seals' and the members'
        unique indexes answer it without reading the ledger."""
        seals, members = self.t.seals, self.t.seal_members
        last = (select(seals.c.number, seals.c.root)
                .order_by(seals.c.number.desc()).limit(1).subquery())
        position = select(func.max(members.c.record_seq)).scalar_subquery()
        row = conn.execute(select(last.c.number, last.c.root, position)).first()
        return ChainEnd(*row) if row else ChainEnd(0, None, 0)

    def _next_batch(self, conn: Connection, key: SigningKey, end: ChainEnd, batch_size: int,
                    now: datetime | None, horizon: int | None) -> Batch | None:
        """The seal that follows ``end``: the next records in ledger order (up to the
        horizon), hashed and signed; None when there are none."""
        records = self.t.records
        after = records.c.seq > end.position
        result = conn.execute(
            select(records.c.seq, records.c.site, records.c.leaf_hash)
            .where(after if horizon is None else after & (records.c.seq <= horizon))
            .order_by(records.c.seq)
            .limit(batch_size)
        )
        with result:  # plain tuples from the driver: integers and text need no conversion
            rows = result.cursor.fetchall()
        if not rows:
            return None
        number = end.number + 1
        sealed_at = now or datetime.now(timezone.utc)
        content = seal_body(number, [(site, leaf) for _, site, leaf in rows], end.root,
                            sealed_at, key.key_id)
        body = canonical_json(content).decode("utf-8")
        seal = Seal(number, len(rows), content["root"], end.root, key.key_id, body,
                    key.sign(body.encode("utf-8")))
        return Batch(seal, sealed_at, [row[0] for row in rows])

    def _write_seal(self, conn: Connection, batch: Batch) -> None:
        seal = batch.seal
        conn.execute(insert(self.t.seals).values(
            number=seal.number, record_count=seal.record_count, root=seal.root,
            previous_root=seal.previous_root, sealed_at=batch.sealed_at, key_id=seal.key_id,
            body=seal.body, signature=seal.signature,
        ))
        self._write_members(conn, seal.number, batch.seqs)

    def _write_members(self, conn: Connection, number: int, seqs: list[int]) -> None:
        """The members in one go (building a dict and its bound parameters per member was
        most of a seal's time)."""
        copy_rows(conn, self.t.seal_members, ("seal_number", "position", "record_seq"),
                  ((number, position, seq) for position, seq in enumerate(seqs)),
                  text=lambda: "".join([f"{number}\t{position}\t{seq}\n"
                                        for position, seq in enumerate(seqs)]))

    def _register_key(self, conn: Connection, key: SigningKey) -> None:
        known = conn.execute(
            select(self.t.keys.c.key_id).where(self.t.keys.c.key_id == key.key_id)
        ).first()
        if known is None:
            conn.execute(insert(self.t.keys).values(
                key_id=key.key_id, algorithm=ALGORITHM, public_key=key.public.public_key,
                created_at=datetime.now(timezone.utc),
            ))

    # --- retention ------------------------------------------------------------------

    def _purge_candidates(self, conn: Connection, now: datetime, since: PurgeMark | None,
                          months: tuple[int, ...]):
        """A condition every record that may be past its retention at ``now`` meets (the
        exact test is consent_end's). A record is kept at least ``retention_months`` after
        it was issued (its consent cannot end before it begins), so one issued later than
        that before ``now`` is not even looked at: one term per retention the ledger holds
        (a handful).

        ``since``, the mark of an earlier purge: of the records it judged, only those whose
        consent may have ended from then on are looked at again (``_judged_again``)."""
        r = self.t.records
        if since is None:
            return self._old_enough(r, now, months)
        return r.c.seq.in_(self._judged_again(since, now, months))

    @staticmethod
    def _old_enough(records, now: datetime, months: tuple[int, ...]):
        return or_(false(), *[
            and_(records.c.retention_months == m,
                 records.c.issued_at <= add_months(now, -m) + MONTH_MARGIN)
            for m in months])

    def _judged_again(self, since: PurgeMark, now: datetime, months: tuple[int, ...]):
        """The sequence numbers of the records a purge relying on ``since`` looks at: those
        sealed after its position, and of the ones it judged, every one that is past its
        retention at ``now``. Such a one was kept then, so its retention ends after
        ``since.at``: its consent ended (issued, for a withdrawal; expired; or superseded by
        the visitor's next record) within ``retention_months`` before the time from
        ``since.at`` to ``now``, or its next record is one recorded after the mark. (A
        removal since does not bring an end earlier: a record's next record then becomes a
        later one, or none; unless that one was stamped before the one removed, and then
        the purge that removed it left no mark.)

        A union of three sets rather than one condition with OR: PostgreSQL then joins the
        set instead of looking it up again for every record."""
        r = self.t.records

        def ended_between(moment, m: int):
            return and_(moment > add_months(since.at, -m) - MONTH_MARGIN,
                        moment <= add_months(now, -m) + MONTH_MARGIN)

        new = r.alias("new")
        judged, later, before = r.alias("judged"), r.alias("later"), r.alias("before")
        # ended as it began: a withdrawal, or a record superseded by one stamped before it
        ended = or_(false(), *[
            and_(judged.c.retention_months == m,
                 or_(ended_between(judged.c.issued_at, m),
                     ended_between(judged.c.expires_at, m)))
            for m in months])
        # records that may end an earlier one: recorded after the mark, or issued within
        # one of the windows; the record before each of them, by visitor
        previous = (select(before.c.seq)
                    .where(before.c.site == later.c.site,
                           before.c.subject_id == later.c.subject_id,
                           before.c.seq < later.c.seq)
                    .order_by(before.c.seq.desc()).limit(1)
                    .scalar_subquery())
        return union(
            select(new.c.seq).where(new.c.seq > since.through,
                                    self._old_enough(new, now, months)),
            select(judged.c.seq).where(judged.c.seq <= since.through, ended),
            select(previous).where(or_(later.c.seq > since.through,
                                       *[ended_between(later.c.issued_at, m) for m in months])),
        )

    def _purge_query(self, candidates):
        """The candidates in ledger order: seq, state, issued_at, expires_at,
        retention_months, and the visitor's next record's issued_at (or None)."""
        r, m = self.t.records, self.t.seal_members
        later = r.alias("later")
        # the visitor's next record in ledger order (timestamps have one-second
        # precision: a choice and its successor can share one)
        next_issued = (
            select(type_coerce(later.c.issued_at, String))
            .where(later.c.site == r.c.site, later.c.subject_id == r.c.subject_id,
                   later.c.seq > r.c.seq)
            .order_by(later.c.seq).limit(1)
            .scalar_subquery()
        )
        return (select(r.c.seq, r.c.state, type_coerce(r.c.issued_at, String),
                       type_coerce(r.c.expires_at, String), r.c.retention_months, next_issued)
                .where(candidates, exists().where(m.c.record_seq == r.c.seq))
                .order_by(r.c.seq))

    def _purge_scan(self, conn: Connection, candidates, batch: int,
                    whole: bool) -> Iterator[list]:
        """The candidates in batches of plain driver tuples: judging a few hundred thousand
        of them through row objects and datetime conversion cost more than reading them.

        PostgreSQL: one query, read through a server-side cursor (one snapshot; as a query
        per batch, each batch's plan walked the seal members from the start again).
        SQLite, judging the ``whole`` ledger: a query per batch, each after the last one's
        end, so no reader stays open through the purge (an open reader keeps the WAL from
        being checkpointed while the purge's writes pile up in it); relying on a mark, one
        query (it finds its few candidates in a pass over the ledger, which a query per
        batch would repeat)."""
        query = self._purge_query(candidates)
        postgresql = conn.dialect.name == "postgresql"
        if postgresql:
            # its cost estimate is high enough for PostgreSQL to compile it first, which
            # takes longer than the compiled code saves
            conn.exec_driver_sql("SET LOCAL jit = off")
        if postgresql or not whole:
            yield from driver_batches(conn, query, batch)
            return
        after = 0
        while True:
            with conn.execute(query.where(self.t.records.c.seq > after).limit(batch)) as result:
                rows = result.cursor.fetchall()
            if rows:
                yield rows
            if len(rows) < batch:
                return
            after = rows[-1][0]

    def expired_records(self, conn: Connection, now: datetime, batch: int = 10_000,
                        progress=None, since: PurgeMark | None = None,
                        months: tuple[int, ...] | None = None,
                        out_of_order: Callable[[], None] | None = None) -> Iterator[Removal]:
        """Sealed records past ``consent end + retention``. Unsealed records are never
        purged: their leaf hash must be in a seal before the record can go. ``progress``
        is told the sequence number the scan has reached (see ``last_seq``). ``since``: the
        mark of an earlier purge whose removals have all committed (``purge_mark``).
        ``months``: ``retentions(conn, since)``, when the caller has it.

        ``out_of_order`` is called when a record is removed whose visitor's next record
        was stamped more than MONTH_MARGIN before it (a wrong clock): removing it may bring
        the end of the visitor's record before it earlier, which a purge relying on this
        one's mark would not look at again (see ``_judged_again``).

        The next batch is read while this one is judged (``read_ahead``): ``conn`` is the
        reading thread's until the scan ends."""
        now = as_utc(now)
        if since is not None and since.at > now:
            since = None  # judged as of a later moment: judge everything again
        if months is None:
            months = self.retentions(conn, since)
        candidates = self._purge_candidates(conn, now, since, months)
        until = stored_naive_utc(now)
        scan = self._purge_scan(conn, candidates, batch, whole=since is None)
        with closing(read_ahead(scan)) as batches:
            for rows in batches:
                for seq, state, issued, expires, kept, next_issued in rows:
                    # stored values, as the driver gives them, compare as the moments they
                    # stand for: only the one that matters is parsed
                    stored_end, cause = consent_end(state, issued, expires, next_issued)
                    ended = stored_naive_utc(stored_end)
                    if add_months(ended, kept) <= until:
                        yield Removal(seq, retention_reason(cause, ended.date(), kept))
                        if (out_of_order and next_issued is not None
                                and stamped_before(next_issued, issued)):
                            out_of_order()
                if progress and rows:
                    progress(rows[-1][0])

    def replace_by_tombstones(self, conn: Connection, removals: list[Removal],
                              now: datetime) -> None:
        """Delete records, keeping each one's leaf hash and the reason, so seals verify.
        Set-based, since a purge removes hundreds of thousands: the removals go into a
        temporary table, then one statement writes every tombstone from the records' own
        rows and one deletes the records. A record already gone is skipped, and so on
        PostgreSQL is one whose erasure commits while this runs (its tombstone, waited for,
        stands; the batch goes on instead of failing on the duplicate)."""
        if not removals:
            return
        waiting = self._removals_table(conn, removals)
        r = self.t.records
        tombstones = (postgresql_insert(self.t.tombstones).on_conflict_do_nothing()
                      if conn.dialect.name == "postgresql" else insert(self.t.tombstones))
        conn.execute(tombstones.from_select(
            ["record_seq", "receipt_id", "site", "leaf_hash", "reason", "removed_at",
             "redacted"],
            select(r.c.seq, r.c.receipt_id, r.c.site, r.c.leaf_hash, waiting.c.reason,
                   literal(now, DateTime(timezone=True)), waiting.c.redacted)
            # the removals first: SQLite, without statistics, otherwise walks the whole
            # ledger looking each record up among them
            .select_from(waiting.join(r, r.c.seq == waiting.c.seq))))
        conn.execute(r.delete().where(r.c.seq.in_(select(waiting.c.seq))))
        conn.execute(waiting.delete())

    def _removals_table(self, conn: Connection, removals: list[Removal]):
        """The temporary table of this connection's session (made once), holding
        ``removals``: filled by COPY on PostgreSQL, one executemany on SQLite."""
        conn.exec_driver_sql(f"CREATE TEMPORARY TABLE IF NOT EXISTS {REMOVALS} "
                             "(seq BIGINT PRIMARY KEY, reason TEXT NOT NULL, redacted TEXT)")
        waiting = table(REMOVALS, column("seq"), column("reason"), column("redacted"))
        copy_rows(conn, waiting, Removal._fields, removals)
        return waiting

    def purge_mark(self, conn: Connection) -> PurgeMark | None:
        """What the last purge by these rules judged, if one did."""
        marks = self.t.purge_marks
        row = conn.execute(select(marks.c.judged_through, marks.c.judged_at,
                                  marks.c.retention_months)
                           .where(marks.c.rules == PURGE_RULES)).first()
        if row is None:
            return None
        months = tuple(int(m) for m in row[2].split(",") if m)
        return PurgeMark(row[0], as_utc(row[1]), months)

    def retentions(self, conn: Connection, since: PurgeMark | None) -> tuple[int, ...]:
        """Every retention (months) the records hold: ``since``'s and those of the records
        after it (read along the primary key), or else every record's (a pass over all)."""
        r = self.t.records
        query = select(r.c.retention_months).distinct()
        if since is not None:
            query = query.where(r.c.seq > since.through)
        found = set(conn.execute(query).scalars())
        return tuple(sorted(found.union(since.months if since else ())))

    def judging_mark(self, conn: Connection, now: datetime,
                     since: PurgeMark | None) -> PurgeMark:
        """The mark a purge judging as of ``now`` leaves once its removals have committed:
        read before it judges, so it sees every record sealed up to the position."""
        return PurgeMark(self.sealed_position(conn), now, self.retentions(conn, since))

    def worth_relying_on(self, conn: Connection, mark: PurgeMark, now: datetime) -> bool:
        """Whether judging from ``mark`` likely costs less than judging every record. It
        looks at the records issued within windows as long as the time since the mark, one
        per retention the ledger holds, and at every record sealed after the mark, with a
        look-up of the visitor's records for each; judging every record looks up a few in
        ten. So: a mark at most MARK_DAYS old, with no more records after its position
        than up to it (a mark left on a young ledger is not worth it)."""
        if not mark.at <= as_utc(now) <= mark.at + timedelta(days=MARK_DAYS):
            return False
        return self.last_seq(conn) - mark.through <= mark.through

    def sealed_position(self, conn: Connection) -> int:
        """The highest sealed record's sequence number: every record up to it is sealed
        (sealing goes in ledger order, up to a horizon on PostgreSQL)."""
        return self._chain_end(conn).position or 0

    def forget_purge_mark(self, conn: Connection) -> None:
        """After a purge no later one may rely on: the next judges every record."""
        marks = self.t.purge_marks
        conn.execute(marks.delete().where(marks.c.rules == PURGE_RULES))

    def mark_purged(self, conn: Connection, mark: PurgeMark) -> None:
        """Note what a purge judged, once all its removals have committed."""
        marks = self.t.purge_marks
        upsert = (postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert)
        values = {"judged_through": mark.through, "judged_at": mark.at,
                  "retention_months": ",".join(map(str, mark.months))}
        statement = upsert(marks).values(rules=PURGE_RULES, **values)
        conn.execute(statement.on_conflict_do_update(index_elements=[marks.c.rules],
                                                     set_=values))

    # --- data subjects ----------------------------------------------------------------

    def subject_records(self, conn: Connection, site: str,
                        subject_id: str) -> list[tuple[int, dict[str, Any]]]:
        """A visitor's records on a site, oldest first, as (seq, record)."""
        r = self.t.records
        rows = conn.execute(
            select(r.c.seq, r.c.data)
            .where(r.c.site == site, r.c.subject_id == subject_id).order_by(r.c.seq)
        ).all()
        return [(row.seq, json.loads(row.data)) for row in rows]

    def unsealed(self, conn: Connection, seqs: list[int]) -> list[int]:
        m = self.t.seal_members
        sealed = set(conn.execute(
            select(m.c.record_seq).where(m.c.record_seq.in_(seqs))).scalars())
        return [seq for seq in seqs if seq not in sealed]

    def erase_subject(self, conn: Connection, site: str, subject_id: str, reason: str,
                      now: datetime) -> list[str]:
        """Replace every record of the visitor on the site by a tombstone that keeps the
        leaf hash (seals still verify) and the record without its personal parts. The
        records must be sealed first. Returns the erased receipt ids."""
        records = self.subject_records(conn, site, subject_id)
        unsealed = self.unsealed(conn, [seq for seq, _ in records])
        if unsealed:
            raise ValueError(f"records {unsealed} are not sealed yet: seal before erasing")
        self.replace_by_tombstones(conn, [
            Removal(seq, reason, canonical_json(redact(record)).decode())
            for seq, record in records], now)
        return [record["receipt_id"] for _, record in records]

    # --- reading ----------------------------------------------------------------------

    def public_keys(self, conn: Connection) -> list[PublicKey]:
        rows = conn.execute(select(self.t.keys).order_by(self.t.keys.c.created_at)).all()
        return [PublicKey(r.key_id, r.public_key) for r in rows]

    def seals(self, conn: Connection) -> Iterator[Seal]:
        rows = conn.execute(select(self.t.seals).order_by(self.t.seals.c.number))
        for r in rows:
            yield Seal(r.number, r.record_count, r.root, r.previous_root, r.key_id, r.body,
                       r.signature)

    def seal_leaves(self, conn: Connection, number: int) -> list[tuple[str, str]]:
        """(site, leaf hash) of a seal's members in seal order, the hash recomputed from
        each record's stored bytes (or taken from its tombstone once the record is gone)."""
        m, r, tomb = self.t.seal_members, self.t.records, self.t.tombstones
        rows = conn.execute(
            select(m.c.record_seq, r.c.site, r.c.data, tomb.c.site.label("tomb_site"),
                   tomb.c.leaf_hash)
            .select_from(m.outerjoin(r, r.c.seq == m.c.record_seq)
                         .outerjoin(tomb, tomb.c.record_seq == m.c.record_seq))
            .where(m.c.seal_number == number)
            .order_by(m.c.position)
        ).all()
        leaves = []
        for row in rows:
            if row.data is not None:
                leaves.append((row.site, record_leaf(row.data.encode("utf-8"))))
            elif row.leaf_hash is not None:
                leaves.append((row.tomb_site, row.leaf_hash))
            else:
                raise VerificationError(f"record {row.record_seq}", "missing, and no tombstone")
        return leaves

    def verify(self, conn: Connection, keys: Iterable[PublicKey] | None = None) -> int:
        """Check every seal against the stored records; returns how many records the seals
        cover. Raises VerificationError naming the first failure."""
        known = {k.key_id: k for k in (keys if keys is not None else self.public_keys(conn))}
        previous_root, covered = None, 0
        for seal in self.seals(conn):
            leaves = self.seal_leaves(conn, seal.number)
            check_seal(seal, leaves, known, previous_root)
            previous_root, covered = seal.root, covered + len(leaves)
        return covered

    def get(self, conn: Connection, receipt_id: str) -> dict[str, Any] | None:
        row = conn.execute(
            select(self.t.records.c.data).where(self.t.records.c.receipt_id == receipt_id)
        ).first()
        return json.loads(row.data) if row else None

    def newest(self, conn: Connection, site: str, subject_id: str) -> dict[str, Any] | None:
        """The visitor's newest record on the site (ledger order), or None when none is
        held (never recorded, erased, or past retention)."""
        data = conn.execute(self._newest(self.t.records.c.data, site, subject_id)).scalar()
        return json.loads(data) if data is not None else None

    def newest_receipt_id(self, conn: Connection, site: str, subject_id: str) -> str | None:
        """The receipt id of ``newest``, without reading its record."""
        return conn.execute(self._newest(self.t.records.c.receipt_id, site, subject_id)).scalar()

    def _newest(self, column, site: str, subject_id: str):
        r = self.t.records
        return (select(column).where(r.c.site == site, r.c.subject_id == subject_id)
                .order_by(r.c.seq.desc()).limit(1))

    def later_record(self, conn: Connection, record: dict[str, Any]) -> dict[str, Any] | None:
        """The newest record of the same visitor on the same site appended after ``record``
        (ledger order: timestamps have one-second precision, sequence numbers do not tie)."""
        r = self.t.records
        own_seq = (select(r.c.seq).where(r.c.receipt_id == record["receipt_id"])
                   .scalar_subquery())
        row = conn.execute(
            select(r.c.data)
            .where(r.c.site == record["site"], r.c.subject_id == record["subject_id"],
                   r.c.seq > own_seq)
            .order_by(r.c.seq.desc()).limit(1)
        ).first()
        return json.loads(row.data) if row else None

    def last_seq(self, conn: Connection) -> int:
        return conn.execute(select(func.max(self.t.records.c.seq))).scalar() or 0

    def count(self, conn: Connection) -> int:
        return conn.execute(select(func.count()).select_from(self.t.records)).scalar_one()

