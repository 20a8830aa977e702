"""Reading ahead on a thread of its own: every item once, in order; a failure where it
happened; and, closed early, the source is let go of before close() returns."""
from __future__ import annotations

import threading
import time

import pytest

from consent_logs.read_ahead import read_ahead


def readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "read-ahead"]


@pytest.mark.parametrize("depth", [1, 2, 5])
def test_every_item_once_in_order(depth):
    assert list(read_ahead(iter(range(1000)), depth)) == list(range(1000))
    assert readers() == []


def test_a_failure_is_raised_after_the_items_before_it():
    def source():
        yield 1
        yield 2
        raise ValueError("the database went away")

    got = []
    with pytest.raises(ValueError, match="went away"):
        for item in read_ahead(source()):
            got.append(item)
    assert got == [1, 2]
    assert readers() == []


def test_closing_early_stops_the_reader_and_lets_go_of_the_source():
    asked, closed = [], []

    def source():
        try:
            for item in range(1_000_000):
                asked.append(item)
                yield item
        finally:
            closed.append(threading.current_thread().name)

    items = read_ahead(source(), depth=2)
    assert next(items) == 0
    time.sleep(0.05)  # the reader fills its queue and waits
    items.close()
    assert readers() == []
    assert closed == ["read-ahead"]  # the source's own clean-up ran on the reading thread
    assert len(asked) <= 5  # the one taken, two queued, one waiting to be, one more at most

