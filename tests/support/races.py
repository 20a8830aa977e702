"""Processes that do the same thing at the same moment, as a server's workers do on a
first start."""
from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Callable

PROCESSES = 8


def race(first_start: Callable[[Path], str], paths: list[Path]) -> list[list[str]]:
    """For each process, what ``first_start(path)`` gave it (or the error it raised) for
    each path in turn; the processes start each path together, held by a barrier."""
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(PROCESSES), context.Queue()

    def run(rank: int) -> None:
        found = []
        for path in paths:
            barrier.wait(timeout=60)
            try:
                found.append(first_start(path))
            except Exception as error:  # reported, not raised: the test shows which
                found.append(f"{type(error).__name__}: {error}")
        results.put((rank, found))

    processes = [context.Process(target=run, args=(rank,)) for rank in range(PROCESSES)]
    for process in processes:
        process.start()
    found = dict(results.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(timeout=30)
    return [found[rank] for rank in range(PROCESSES)]


def disagreements(results: list[list[str]]) -> list[set[str]]:
    """For each path on which the processes did not all get the same, what they got."""
    return [set(answers) for answers in zip(*results) if len(set(answers)) > 1]
