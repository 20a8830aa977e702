"""Reading the database on a thread of its own while the caller works on what it read.

The drivers (sqlite3, psycopg) let go of the interpreter while they wait for the database,
so a batch being read and the batch before it being judged or written overlap: an
export or a purge costs about the longer of the two instead of their sum.
"""
from __future__ import annotations

import queue
import threading
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
_END = object()


def read_ahead(batches: Iterable[T], depth: int = 2) -> Iterator[T]:
    """What ``batches`` yields, in order, produced by a thread of its own at most ``depth``
    items ahead (memory holds that many more). An exception in the producer is raised here,
    where the item it would have produced is awaited.

    Whatever ``batches`` reads from (a connection, a cursor) is the thread's until this
    generator is exhausted or closed: nothing else may use it in between. Closing early
    stops the producer at its next item and waits for it, so the connection is free again
    when ``close()`` returns."""
    items: queue.Queue = queue.Queue(depth)
    stop = threading.Event()
    failure: list[BaseException] = []

    source = iter(batches)

    def produce() -> None:
        try:
            while not stop.is_set():  # told to stop: not one more read
                item = next(source, _END)
                if item is _END:
                    break
                items.put(item)
        except BaseException as error:  # raised again on the consuming thread
            failure.append(error)
        finally:
            if hasattr(source, "close"):  # a generator's own clean-up, on this thread
                source.close()
            items.put(_END)

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        while (item := items.get()) is not _END:
            yield item
        if failure:
            raise failure[0]
    finally:
        stop.set()
        while thread.is_alive():  # let a producer blocked on a full queue finish
            try:
                items.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()
