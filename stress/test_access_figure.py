"""Access (issue 7, section 4) is tested in tests/accounts/test_auth.py (every console,
admin and compliance route, anonymously and with each wrong role; login throttling): this
only states, for the summary table, how many routes that walk covers."""
from __future__ import annotations

import pytest

from tests.accounts.test_auth import PEOPLE, may_open, protected_routes

pytestmark = pytest.mark.stress


@pytest.fixture
def engine_name() -> str:
    return "sqlite"  # the routes are the app's, whatever the engine


def test_the_access_walk_covers_every_protected_route(app, figures):
    routes = list(protected_routes(app))  # asserts that every route has a role check
    wrong_roles = sum(1 for _, _, roles in routes for person in PEOPLE
                      if not may_open(person, roles))
    operator_only = [path for path, _, roles in routes if roles == ("operator",)]
    assert len(routes) >= 40 and wrong_roles > len(routes) and len(operator_only) >= 5
    figures.add("access", "every console, admin and compliance route refused anonymously and "
                "with the wrong role (tests/accounts/test_auth.py)",
                f"{len(routes)} routes, {len(routes) + wrong_roles} refusals checked")
