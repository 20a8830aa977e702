"""Group commit: appends from concurrent threads of one process share one transaction.

A record may only be acknowledged once it is durable, and a durable commit costs a flush
to disk (an fsync on SQLite with synchronous=FULL, a WAL flush on PostgreSQL) that takes
longer than everything else about recording a consent. Threads that append while a commit
is in flight queue up; when it ends, one of them commits the whole queue in a single
statement and wakes the others. Each caller still returns only after the commit that
holds its own record, so the promise is unchanged; under load, one flush serves many
records. With one thread per process (gunicorn's sync workers) every batch has one record.

A batch that fails on a constraint is retried one record at a time, so one bad record
cannot fail its neighbours; an error of the database itself fails the whole batch, and
every caller in it sees that error.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy.exc import DataError, IntegrityError

from consent_logs.ledger import Ledger

# rows -> None once they are durably committed, in one statement (consent_logs.writer)
Insert = Callable[[list[dict[str, Any]]], None]


@dataclass
class _Pending:
    row: dict[str, Any]
    taken: bool = False
    done: bool = False
    error: Exception | None = None


@dataclass
class GroupCommit:
    ledger: Ledger
    insert: Insert
    max_batch: int = 256
    _queue: list[_Pending] = field(default_factory=list)
    _committing: bool = False
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def append(self, record: dict[str, Any], retention_months: int) -> str:
        """Append ``record`` and return once it is committed (or raise why it is not).
        Returns the record's canonical JSON, as stored."""
        pending = _Pending(self.ledger.row(record, retention_months))
        with self._changed:
            self._queue.append(pending)
            while not pending.done:
                if self._committing or pending.taken:
                    self._changed.wait()
                    continue
                self._lead()
        if pending.error is not None:
            raise pending.error
        return pending.row["data"]

    def _lead(self) -> None:
        """Commit the queue (called holding the condition's lock, released meanwhile)."""
        batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
        for pending in batch:
            pending.taken = True
        self._committing = True
        self._changed.release()
        try:
            self._commit(batch)
        finally:
            self._changed.acquire()
            self._committing = False
            for pending in batch:
                pending.done = True
            self._changed.notify_all()

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            self.insert([p.row for p in batch])
        except (IntegrityError, DataError) as error:
            if len(batch) == 1:
                batch[0].error = error
                return
            for pending in batch:
                self._commit([pending])
        except Exception as error:  # the database is down, the disk is full...
            for pending in batch:
                pending.error = error

