"""Per-client rate limit on the public POST endpoints, without storing addresses.

Counters live in a small file in the instance folder, mapped into every worker process
(gunicorn's workers share nothing else), so the limit holds across processes. A client is
a slot in that table: its address hashed with a key derived from the signing key, so the
file holds neither addresses nor anything that can be turned back into one without the
key, and it forgets each slot when its window passes.

Fixed windows of one minute. Each client counts in two slots of two independent tables (a
count-min sketch) and is refused only when both of its counts are over the limit, so an
ordinary client is refused only if both of its slots are shared with heavy clients (for
one flood, about one chance in 4 billion); one table alone would wrongly refuse one
client in 65,536. A request's two increments are made under a lock on the file (flock,
between processes) and a lock in the process (between its threads): a few microseconds
held. Without them two workers racing lost increments by the handful, and a flood from
several workers got well past the limit.
"""
from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import threading
import time
from pathlib import Path

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cmp_server.models import RateLimitCount
from cmp_server.platform.extensions import db

SLOTS = 1 << 16
PERIOD = 60  # seconds
FILE_NAME = "rate_limit.bin"
MAX_COUNT = 0xFFFFFFFF


class RateLimit:
    def __init__(self, path: Path, per_minute: int, secret: str, slots: int = SLOTS):
        self.per_minute, self.slots = per_minute, slots
        self.key = hashlib.sha256(b"cmp-rate-limit:" + secret.encode()).digest()
        size = 2 * slots * 8  # two tables of (window, count) pairs of 32-bit cells
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # kept: its lock is ours
        if os.fstat(self._fd).st_size != size:
            os.ftruncate(self._fd, size)
        self._map = mmap.mmap(self._fd, size)
        self._cells = memoryview(self._map).cast("I")  # (window, count) per slot
        self._threads = threading.Lock()

    def slots_of(self, client: str) -> tuple[int, int]:
        """The cell index of the client's slot in each table."""
        digest = hashlib.blake2b(client.encode(), key=self.key, digest_size=8).digest()
        first, second = int.from_bytes(digest[:4], "big"), int.from_bytes(digest[4:], "big")
        return 2 * (first % self.slots), 2 * (self.slots + second % self.slots)

    def retry_after(self, client: str, now: float | None = None) -> int | None:
        """Count one request from ``client``; None when it is within the limit, else the
        seconds until its window ends."""
        now = time.time() if now is None else now
        window = int(now // PERIOD) & MAX_COUNT
        slots = self.slots_of(client)
        with self._threads:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                count = min(self._count(slot, window) for slot in slots)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        if count <= self.per_minute:
            return None
        return max(1, int(PERIOD - now % PERIOD))

    def _count(self, slot: int, window: int) -> int:
        """One more in ``slot`` for this window; the slot's count so far."""
        cells = self._cells
        if cells[slot] != window:
            cells[slot], cells[slot + 1] = window, 1
            return 1
        count = min(cells[slot + 1] + 1, MAX_COUNT)
        cells[slot + 1] = count
        return count


class DatabaseRateLimit:
    """The same limit, counted in the app's database (CMP_RATE_LIMIT_STORAGE=database), so
    that it holds across app servers: one upsert per counted request. Exact per client
    (no shared slots); the client is a keyed hash, never the address."""

    def __init__(self, per_minute: int, secret: str):
        self.per_minute = per_minute
        self.key = hashlib.sha256(b"cmp-rate-limit:" + secret.encode()).digest()
        self._cleared = -1  # the last window this process cleared the counters before

    def retry_after(self, client: str, now: float | None = None) -> int | None:
        now = time.time() if now is None else now
        window = int(now // PERIOD)
        name = hashlib.blake2b(client.encode(), key=self.key, digest_size=16).hexdigest()
        insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
        statement = (insert(RateLimitCount).values(client=name, window=window, count=1)
                     .on_conflict_do_update(index_elements=["client", "window"],
                                            set_={"count": RateLimitCount.count + 1})
                     .returning(RateLimitCount.count))
        with db.engine.begin() as conn:
            count = conn.execute(statement).scalar_one()
            if self._cleared != window:  # once a minute per process: forget past windows
                conn.execute(delete(RateLimitCount).where(RateLimitCount.window < window - 1))
                self._cleared = window
        if count <= self.per_minute:
            return None
        return max(1, int(PERIOD - now % PERIOD))


def for_app(app) -> RateLimit | DatabaseRateLimit | None:
    """The app's limiter (None when CMP_RATE_LIMIT_PER_MINUTE is 0), opened on first use:
    the per-host file, or the database when CMP_RATE_LIMIT_STORAGE says so."""
    limiter = app.extensions.get("cmp_rate_limit", False)
    if limiter is False:
        per_minute, secret = app.config["CMP_RATE_LIMIT_PER_MINUTE"], app.config["CMP_SECRET_KEYS"][0]
        limiter = None
        if per_minute and app.config["CMP_RATE_LIMIT_STORAGE"] == "database":
            limiter = DatabaseRateLimit(per_minute, secret)
        elif per_minute:
            limiter = RateLimit(Path(app.instance_path) / FILE_NAME, per_minute, secret)
        app.extensions["cmp_rate_limit"] = limiter
    return limiter
