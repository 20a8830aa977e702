"""Small per-process caches for the request path.

Nothing here is shared between workers or needed for correctness: each worker keeps what
it has read. Immutable things (a published version) are kept until evicted; things that
can change (which version is newest, a site's origins) are kept for CMP_CACHE_SECONDS,
so a change reaches every worker within that time. Caches belong to the app, so two apps
in one process (as in the tests) never see each other's entries.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Callable, Hashable

from flask import current_app

MAX_ENTRIES = 10_000


class TTLCache:
    """Values by key for ``seconds`` after they were loaded; at most ``max_entries``, the
    oldest loaded going first."""

    def __init__(self, seconds: float, max_entries: int = MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()

    def get(self, key: Hashable, load: Callable[[], Any], keep_none: bool = True) -> Any:
        """The cached value, or ``load()``'s (kept unless it is None and not keep_none)."""
        if self.seconds <= 0:
            return load()
        now = self.clock()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        value = load()
        if value is None and not keep_none:
            return value
        self._entries[key] = (now + self.seconds, value)
        self._entries.move_to_end(key)
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return value


def app_cache(name: str, seconds: float | None = None) -> TTLCache:
    """The app's cache called ``name``; ``seconds`` defaults to CMP_CACHE_SECONDS, and
    ``float('inf')`` keeps entries until evicted (for immutable values)."""
    caches = current_app.extensions.setdefault("cmp_caches", {})
    cache = caches.get(name)
    if cache is None:
        ttl = current_app.config["CMP_CACHE_SECONDS"] if seconds is None else seconds
        cache = caches[name] = TTLCache(ttl)
    return cache
