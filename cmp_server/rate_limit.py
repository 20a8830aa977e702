"""Per-client rate limit on the public POST endpoints, without storing addresses.

Counters live in a small file in the instance folder, mapped into every worker process
(gunicorn's workers share nothing else), so the limit holds across processes. A client is
a slot in that table: its address hashed with a key derived from the signing key, so the
file holds neither addresses nor anything that can be turned back into one without the
key, and it forgets each slot when its window passes.

Fixed windows of one minute; a slot shared by two clients (a hash collision, about one in
65,536 pairs) shares their budget. Increments are not atomic across processes, so under a
race a client may get a request or two more than the limit: this is a brake on floods,
not an accounting system.
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
        size = slots * 8
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size != size:
                os.ftruncate(fd, size)
            self._map = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self._cells = memoryview(self._map).cast("I")  # (window, count) per slot

    def slot(self, client: str) -> int:
        digest = hashlib.blake2b(client.encode(), key=self.key, digest_size=8).digest()
        return 2 * (int.from_bytes(digest, "big") % self.slots)

    def retry_after(self, client: str, now: float | None = None) -> int | None:
        """Count one request from ``client``; None when it is within the limit, else the
        seconds until its window ends."""
        now = time.time() if now is None else now
        window = int(now // PERIOD) & MAX_COUNT
        slot, cells = self.slot(client), self._cells
        if cells[slot] != window:
            cells[slot], cells[slot + 1] = window, 1
            return None
        count = min(cells[slot + 1] + 1, MAX_COUNT)
        cells[slot + 1] = count
        if count <= self.per_minute:
            return None
        return max(1, int(PERIOD - now % PERIOD))


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
