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
client in 65,536. Increments are not atomic across processes, so under a race a client
may get a request or two more than the limit: this is a brake on floods, not an
accounting system.
"""
from __future__ import annotations

import hashlib
import mmap
import os
import time
from pathlib import Path

SLOTS = 1 << 16
PERIOD = 60  # seconds
FILE_NAME = "rate_limit.bin"
MAX_COUNT = 0xFFFFFFFF


class RateLimit:
    def __init__(self, path: Path, per_minute: int, secret: str, slots: int = SLOTS):
        self.per_minute, self.slots = per_minute, slots
        self.key = hashlib.sha256(b"cmp-rate-limit:" + secret.encode()).digest()
        size = 2 * slots * 8  # two tables of (window, count) pairs of 32-bit cells
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size != size:
                os.ftruncate(fd, size)
            self._map = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self._cells = memoryview(self._map).cast("I")  # (window, count) per slot

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
        count = min(self._count(slot, window) for slot in self.slots_of(client))
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


def for_app(app) -> RateLimit | None:
    """The app's limiter (None when CMP_RATE_LIMIT_PER_MINUTE is 0), opened on first use."""
    limiter = app.extensions.get("cmp_rate_limit", False)
    if limiter is False:
        per_minute = app.config["CMP_RATE_LIMIT_PER_MINUTE"]
        limiter = None
        if per_minute:
            limiter = RateLimit(Path(app.instance_path) / FILE_NAME, per_minute,
                                app.config["CMP_SECRET_KEYS"][0])
        app.extensions["cmp_rate_limit"] = limiter
    return limiter
