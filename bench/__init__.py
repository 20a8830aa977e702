"""Benchmarks, each against a baseline measured in the same run (`make bench`)."""
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

# How much of the consent POST's ledger write the bench server does (bench/wsgi_bench.py)
LEDGER_WRITES = ("durable", "no-flush", "none")


def publish(name: str, header: str, report: str) -> None:
    """Write a benchmark's table to bench/results/<name> and print it."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / name).write_text(f"{header}\n\n{report}\n")
    print(f"\n{header}\n\n{report}")
