"""The stress suite. `make stress` runs it with the full profile and prints a summary
table; `make test` runs the short profile (every check, smaller rates and durations).

Each check records its figures with the ``figures`` fixture; the table is printed at the
end of the run and written to stress/results/<profile>.md, which the README quotes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import (  # noqa: F401  (fixtures shared with tests/)
    SHOP, SHOP_VENDORS, app, catalogue, client, database_url, engine_name, instance_path,
    live_server, make_app, postgres, postgres_template, shop, sqlite_template,
)

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Profile:
    name: str
    load_rates: tuple[int, ...]      # consent POSTs per second, one step each
    load_seconds: int                # length of each step
    crash_seconds: float             # load before and after each crash
    fuzz_examples: int               # hypothesis examples per fuzzed target
    schemathesis_examples: int       # examples per API operation


PROFILES = {
    "short": Profile("short", load_rates=(100, 300), load_seconds=3, crash_seconds=2.0,
                     fuzz_examples=200, schemathesis_examples=10),
    "full": Profile("full", load_rates=(100, 250, 500, 1000, 2000), load_seconds=20,
                    crash_seconds=8.0, fuzz_examples=5000, schemathesis_examples=100),
}


def current_profile() -> Profile:
    name = os.environ.get("CMP_STRESS_PROFILE", "short")
    if name not in PROFILES:
        raise pytest.UsageError(f"CMP_STRESS_PROFILE={name!r}: choose one of {sorted(PROFILES)}")
    return PROFILES[name]


@pytest.fixture(scope="session")
def profile() -> Profile:
    return current_profile()


@pytest.fixture
def answers(tmp_path) -> Path:
    """Where wrk writes the receipt id of every 201 it reads (bench.load.recorded_ids)."""
    path = tmp_path / "answers"
    path.mkdir()
    return path


@dataclass
class Figures:
    """Rows of the summary table: (section, check, figure)."""
    rows: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, section: str, check: str, figure: str) -> None:
        self.rows.append((section, check, figure))

    def markdown(self, profile: Profile) -> str:
        lines = [f"Stress suite, profile `{profile.name}`", "",
                 "| section | check | figure |", "|---|---|---|"]
        lines += [f"| {s} | {c} | {f} |" for s, c, f in sorted(self.rows, key=lambda r: r[0])]
        return "\n".join(lines) + "\n"


_FIGURES = Figures()


@pytest.fixture(scope="session")
def figures() -> Figures:
    return _FIGURES


def pytest_terminal_summary(terminalreporter):
    if not _FIGURES.rows:
        return
    profile = current_profile()
    table = _FIGURES.markdown(profile)
    terminalreporter.section(f"stress figures ({profile.name} profile)")
    terminalreporter.write(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{profile.name}.md").write_text(table)

