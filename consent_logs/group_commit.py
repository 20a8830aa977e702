"""Group commit: appends from concurrent threads of one process share statements and
flushes to disk.

A record may only be acknowledged once it is durable, and making it durable costs a flush
to disk that takes longer than everything else about recording a consent. Threads that
append while a batch is being written queue up; when the write ends, one of them writes
the whole queue in one statement while the previous batch is still being flushed
(consent_logs.writer: ``write``, then ``sync``). Each caller returns only after the flush
that covers its own record, so the promise is unchanged; under load one statement and
one flush serve many records, and writing never waits for the disk.

A batch that fails on a constraint is retried one record at a time, so one bad record
cannot fail its neighbours; an error of the database itself fails the whole batch, and
every caller in it sees that error.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.exc import DataError, IntegrityError

from consent_logs.ledger import Ledger


class Writer(Protocol):
    def write(self, rows: list[dict[str, Any]]) -> int:
        """Commit the rows in one statement, all or none; the position to sync."""

    def sync(self, position: int) -> None:
        """Make the write at ``position`` durable."""


@dataclass
class _Pending:
    row: dict[str, Any]
    error: Exception | None = None
    lead: bool = False  # promoted to write the queue, rather than done
    ready: threading.Event = field(default_factory=threading.Event)


@dataclass
class GroupCommit:
    ledger: Ledger
    writer: Writer
    max_batch: int = 256
    _queue: list[_Pending] = field(default_factory=list)
    _writing: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def append(self, record: dict[str, Any], retention_months: int) -> str:
        """Append ``record`` and return once it is durable (or raise why it is not).
        Returns the record's canonical JSON, as stored.

        A thread waits once: until its record is durable, or until it is its turn to
        write the queue (then it leads the next batch). Waking exactly the threads
        concerned, rather than all of them, keeps context switches few under load."""
        pending = _Pending(self.ledger.row(record, retention_months))
        with self._lock:
            self._queue.append(pending)
            leading = not self._writing
            self._writing = True
        if not leading:
            pending.ready.wait()
            leading = pending.lead
        if leading:
            self._commit()
        if pending.error is not None:
            raise pending.error
        return pending.row["data"]

    def _commit(self) -> None:
        """Write the queue (this thread's record first), hand the turn on, then flush."""
        with self._lock:
            batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
        try:
            position = self._write(batch)
        finally:
            with self._lock:
                if self._queue:  # the next batch is written while this one is flushed
                    successor = self._queue[0]
                    successor.lead = True
                    successor.ready.set()
                else:
                    self._writing = False
        written = [pending for pending in batch if pending.error is None]
        if written:
            try:
                self.writer.sync(position)
            except Exception as error:  # the disk failed: none of them is known durable
                for pending in written:
                    pending.error = error
        for pending in batch:
            pending.ready.set()

    def _write(self, batch: list[_Pending]) -> int:
        """Write the batch; the position to sync (covering every record written)."""
        try:
            return self.writer.write([pending.row for pending in batch])
        except (IntegrityError, DataError) as error:
            if len(batch) == 1:
                batch[0].error = error
                return 0
            return max(self._write([pending]) for pending in batch)
        except Exception as error:  # the database is down, the disk is full...
            for pending in batch:
                pending.error = error
            return 0
