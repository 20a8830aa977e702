"""Appends on a database connection of the writer's own: ``write`` commits a batch of
rows in one statement, ``sync`` makes what was written durable.

One plain DB-API connection per process, opened like the engine's own (its URL, options
and connect events, such as SQLite's pragmas) but never pooled, sends each batch as one
multi-row INSERT in autocommit mode; values pass through the columns' own bind
processors, so a row reads back as SQLAlchemy would have stored it. On PostgreSQL a
returned statement is durable (synchronous_commit on); on SQLite the commit appends to
the write-ahead log without waiting for the disk and ``sync`` waits for an fdatasync of
the log that one flush shares among the process's writes (``SharedFlush``). Why this
keeps synchronous=FULL's promise: docs/ledger.md (Records and the write path).

Errors come out as SQLAlchemy's exception classes (IntegrityError, DataError,
OperationalError...), parameters hidden. After any error but a refused row, the
connection is closed and the next batch opens a new one, so a database that restarts is
picked up again.
"""
from __future__ import annotations

import contextlib
import os
import threading
from typing import Any, Callable

from sqlalchemy import Engine, Table, event
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError

PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


class SharedFlush:
    """Flushes of one append-only file (SQLite's write-ahead log, for the writer) shared
    by the writes of this process.

    Each write gets a position from a count of this process's writes (kept under the
    writer's lock). ``flush(n)`` returns at once when a flush that began after write n
    has finished, else flushes the file, covering every write counted before the flush
    began. Flushes of different threads and processes run side by side, so none waits
    for another (each still costs the disk a flush of its own). (Positions are not ledger
    sequence numbers: the purge and erasure delete rows, and SQLite may then hand a
    number out again.)"""

    def __init__(self, path: str):
        self.path = path
        self._written = 0
        self._flushed = 0

    def committed(self) -> int:
        """Count a committed write (called under the writer's lock); its position."""
        self._written += 1
        return self._written

    def flush(self, position: int) -> None:
        """Return once an fdatasync of the file has run since write ``position`` ended."""
        if self._flushed >= position:
            return
        covered = self._written
        # The file by name (for SQLite: the log it appends to while our connection is open);
        # a descriptor of the moment's own cannot go stale or be closed under us.
        log = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fdatasync(log)
        finally:
            os.close(log)
        if covered > self._flushed:  # (a racing flush may lower it: one flush more)
            self._flushed = covered


class RowWriter:
    """Rows (dicts keyed by column name) into ``table``, one statement per ``write``.
    Thread-safe: writes are serialised, syncs are not. Its connection closes with
    ``engine.dispose()`` and reopens on the next write.

    Writers of different processes take no lock of their own: on SQLite a statement
    commits without waiting for the disk, so SQLite holds its write lock only while it
    inserts, and the lock is released inside SQLite itself. (A file lock around the
    statement would stay held while its holder waits for its process's GIL after the
    statement, stalling every other process behind it.)"""

    def __init__(self, engine: Engine, table: Table, columns: list[str]):
        dialect = engine.dialect
        if dialect.paramstyle not in PLACEHOLDERS:
            raise ValueError(f"unsupported DB-API paramstyle {dialect.paramstyle!r}")
        self.engine = engine
        self._fields: list[tuple[str, Callable[[Any], Any] | None]] = [
            (name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in columns
        ]
        quote = dialect.identifier_preparer.quote
        self._prefix = (f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
                        f"({', '.join(quote(name) for name in columns)}) VALUES ")
        marker = PLACEHOLDERS[dialect.paramstyle]
        self._tuple = f"({', '.join([marker] * len(columns))})"
        self._statements: dict[int, str] = {}
        database = engine.url.database
        file_database = dialect.name == "sqlite" and database not in (None, "", ":memory:")
        self._wal = SharedFlush(f"{database}-wal") if file_database else None
        self._deferred = False  # whether commits leave the flush to ``sync`` (WAL mode)
        self._mutex = threading.Lock()
        self._pid = 0
        self._connection: Any = None
        # engine.dispose() means "new connections from now on": ours too
        event.listen(engine, "engine_disposed", lambda _engine: self.close())

    def write(self, rows: list[dict[str, Any]]) -> int:
        """Commit ``rows`` in one statement; they are durable once ``sync`` of the
        returned position returns. Raises SQLAlchemy's exception for whatever the
        database refused, and then nothing is stored."""
        statement = self._statement(len(rows))
        params = [process(row[name]) if process else row[name]
                  for row in rows for name, process in self._fields]
        with self._mutex:
            try:
                cursor = self._connect().cursor()
                try:
                    cursor.execute(statement, params)
                    if not self._deferred:
                        return 0  # durable already
                    return self._wal.committed()
                finally:
                    cursor.close()
            except self.engine.dialect.loaded_dbapi.Error as error:
                raise self._failed(statement, error) from error

    def sync(self, position: int) -> None:
        """Make the write at ``position`` durable (on SQLite, an fdatasync of the log
        that one flush may share with others; a position of 0 is durable already)."""
        if not position:
            return
        try:
            self._wal.flush(position)
        except OSError as error:  # the records may not be on disk: say so, start afresh
            self.close()
            raise OperationalError("fdatasync", None, error, hide_parameters=True) from error

    def close(self) -> None:
        with self._mutex:
            self._discard()

    def _statement(self, count: int) -> str:
        statement = self._statements.get(count)
        if statement is None:
            statement = self._prefix + ", ".join([self._tuple] * count)
            self._statements[count] = statement
        return statement

    def _connect(self):
        if self._pid != os.getpid():
            # a forked child must not share its parent's connection
            self._connection = None
            self._pid = os.getpid()
        if self._connection is None:
            # A new connection, never one the engine's pool kept (it may have died with a
            # database restart): a fresh pool like the engine's, with its connect events.
            pooled = self.engine.pool.recreate().connect()
            pooled.detach()  # ours for good: closed by this writer, not returned
            connection = pooled.dbapi_connection
            self.engine.dialect.set_isolation_level(connection, "AUTOCOMMIT")
            if self._wal:
                self._deferred = self._defer_flush(connection)
            self._connection = connection
        return self._connection

    @staticmethod
    def _defer_flush(connection) -> bool:
        """In WAL mode, commit without waiting for the disk (``sync`` waits); in any
        other journal mode the commit itself stays synchronous."""
        cursor = connection.cursor()
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                return False
            cursor.execute("PRAGMA synchronous=NORMAL")
            return True
        finally:
            cursor.close()

    def _failed(self, statement: str, error: Exception) -> DBAPIError:
        wrapped = DBAPIError.instance(statement, None, error,
                                      self.engine.dialect.loaded_dbapi.Error,
                                      hide_parameters=True, dialect=self.engine.dialect)
        if not isinstance(wrapped, (IntegrityError, DataError)):
            self._discard()  # the connection may be broken: the next batch opens a new one
        return wrapped

    def _discard(self) -> None:
        """Close the connection; the next write opens a new one."""
        connection, self._connection = self._connection, None
        if self._pid != os.getpid():
            return  # a parent's, inherited through fork: not ours to close
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()
