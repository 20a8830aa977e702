"""The request path's small caches: a value is loaded once per lifetime, None can be left
out, the oldest entries go first, and each app has its own."""
from __future__ import annotations

from cmp_server.platform.cache import TTLCache, app_cache
from tests.conftest import make_app


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def counting(value):
    calls = []

    def load():
        calls.append(1)
        return value
    return load, calls


def test_a_value_is_loaded_once_per_lifetime():
    clock = Clock()
    cache = TTLCache(5, clock=clock)
    load, calls = counting("v1")
    assert [cache.get("k", load) for _ in range(3)] == ["v1"] * 3 and len(calls) == 1
    clock.now += 5.1
    assert cache.get("k", lambda: "v2") == "v2"


def test_no_lifetime_loads_every_time():
    cache = TTLCache(0)
    load, calls = counting("v")
    cache.get("k", load), cache.get("k", load)
    assert len(calls) == 2


def test_none_is_kept_only_when_asked():
    cache = TTLCache(60)
    assert cache.get("k", lambda: None, keep_none=False) is None
    assert cache.get("k", lambda: "found") == "found"
    assert cache.get("n", lambda: None) is None
    assert cache.get("n", lambda: "later") is None  # kept: None is an answer here


def test_the_oldest_loaded_entry_goes_first():
    cache = TTLCache(60, max_entries=2)
    for key in "abc":
        cache.get(key, lambda key=key: key.upper())
    load, calls = counting("A again")
    assert cache.get("a", load) == "A again" and calls  # "a" was evicted
    assert cache.get("c", lambda: "not loaded") == "C"


def test_each_app_has_its_own_caches(tmp_path):
    first = make_app(f"sqlite:///{tmp_path / 'a.sqlite3'}", tmp_path / "a", CMP_CACHE_SECONDS=60)
    second = make_app(f"sqlite:///{tmp_path / 'b.sqlite3'}", tmp_path / "b", CMP_CACHE_SECONDS=60)
    with first.app_context():
        assert app_cache("origins").get("k", lambda: "first") == "first"
    with second.app_context():
        assert app_cache("origins").get("k", lambda: "second") == "second"
        assert app_cache("origins").seconds == 60
