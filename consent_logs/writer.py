"""Durable appends on a database connection of the writer's own.

Recording a consent is the platform's hottest write, and through SQLAlchemy's pool and
statement machinery one INSERT costs more CPU than the database spends storing it (pool
checkout and reset, a transaction object, compiled-cache lookups, result objects). The
writer keeps one plain DB-API connection per process, opened like the engine's own (its
URL, options and connect events, such as SQLite's pragmas) but never pooled, and sends each batch of rows as one multi-row INSERT in
autocommit mode. A single statement is atomic by itself and durable when it returns
(SQLite with synchronous=FULL, PostgreSQL with synchronous_commit on): one round trip,
no BEGIN or COMMIT.

Values pass through the columns' own bind processors, so a row is stored exactly as
SQLAlchemy would store it (SQLite's date format, for one) and reads back the same.

On SQLite, writers from every process first queue on a file lock beside the database:
the lock hands over at once, where SQLite's own busy handler sleeps in steps of up to
100 ms and leaves the CPU idle under load. PostgreSQL needs no such queue.

Errors come out as SQLAlchemy's exception classes (IntegrityError, DataError,
OperationalError...), parameters hidden. After any error but a refused row, the
connection is closed and the next batch opens a new one, so a database that restarts is
picked up again.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from typing import Any, Callable, Iterator

from sqlalchemy import Engine, Table, event
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


class RowWriter:
    """Insert rows (dicts keyed by column name) into ``table``, durably, in one statement
    per call. Thread-safe: calls are serialised. Its connection closes with
    ``engine.dispose()`` and reopens on the next call."""

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
        self._lock_path = (f"{database}-writelock" if dialect.name == "sqlite"
                           and database not in (None, "", ":memory:") else None)
        self._mutex = threading.Lock()
        self._pid = 0
        self._connection: Any = None
        self._lock_file: Any = None
        # engine.dispose() means "new connections from now on": ours too
        event.listen(engine, "engine_disposed", lambda _engine: self.close())

    def insert(self, rows: list[dict[str, Any]]) -> None:
        """Store ``rows``; on return they are committed and durable. Raises SQLAlchemy's
        exception for whatever the database refused, and then nothing is stored."""
        statement = self._statement(len(rows))
        params = [process(row[name]) if process else row[name]
                  for row in rows for name, process in self._fields]
        with self._mutex:
            try:
                connection = self._connect()
                with self._queue():
                    cursor = connection.cursor()
                    try:
                        cursor.execute(statement, params)
                    finally:
                        cursor.close()
            except self.engine.dialect.loaded_dbapi.Error as error:
                raise self._failed(statement, error) from error

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
            # a forked child must not share its parent's connection or lock descriptor
            self._connection = self._lock_file = None
            self._pid = os.getpid()
        if self._connection is None:
            # A new connection, never one the engine's pool kept (it may have died with a
            # database restart): a fresh pool like the engine's, with its connect events.
            pooled = self.engine.pool.recreate().connect()
            pooled.detach()  # ours for good: closed by this writer, not returned
            connection = pooled.dbapi_connection
            self.engine.dialect.set_isolation_level(connection, "AUTOCOMMIT")
            self._connection = connection
        return self._connection

    @contextlib.contextmanager
    def _queue(self) -> Iterator[None]:
        if self._lock_path is None:
            yield
            return
        if self._lock_file is None:
            self._lock_file = open(self._lock_path, "a")
        fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def _failed(self, statement: str, error: Exception) -> DBAPIError:
        dbapi = self.engine.dialect.loaded_dbapi
        wrapped = DBAPIError.instance(statement, None, error, dbapi.Error,
                                      hide_parameters=True, dialect=self.engine.dialect)
        if not isinstance(wrapped, (IntegrityError, DataError)):
            self._discard()  # the connection may be broken: the next batch opens a new one
        return wrapped

    def _discard(self) -> None:
        """Close the connection and the lock file; the next call opens them anew."""
        connection, self._connection = self._connection, None
        lock_file, self._lock_file = self._lock_file, None
        if self._pid != os.getpid():
            return  # a parent's, inherited through fork: not ours to close
        for handle in (connection, lock_file):
            if handle is not None:
                with contextlib.suppress(Exception):
                    handle.close()
