"""Access: one client flooding the consent endpoint gets 429 once over its budget, while
everyone else is served as usual; the limit is per client, counted without storing raw
addresses (see cmp_server/rate_limit.py and tests/platform/test_rate_limit.py)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from bench.load import run_wrk
from stress.platform import Platform

pytestmark = pytest.mark.stress
LIMIT = 120  # the default CMP_RATE_LIMIT_PER_MINUTE


def test_a_flooding_client_is_limited_and_others_are_not(profile, figures, tmp_path):
    with Platform("sqlite", tmp_path) as platform:
        request = dict(method="POST", body=platform.consent_body(),
                       headers=platform.consent_headers)
        with ThreadPoolExecutor(1) as pool:
            # the flood: one address (no X-Forwarded-For: the socket's), as fast as it can
            flood = pool.submit(run_wrk, platform.consents_url, profile.load_seconds, 4,
                                threads=1, **request)
            others = run_wrk(platform.consents_url, profile.load_seconds, 4, threads=1,
                             many_clients=True, rate=100, **request)
            flood = flood.result()
        # the window may turn during the flood: at most two budgets
        accepted = flood.requests - flood.errors
        assert LIMIT <= accepted <= 2 * LIMIT, accepted
        # (wrk never reads the answers in flight when its time is up: one per connection)
        assert 0 <= platform.answered("POST /api/v1/consents", 429) - flood.errors <= 4
        assert others.errors == 0
    figures.add("access", "one client flooding the consent POST",
                f"{flood.requests:,} requests in {profile.load_seconds} s: {accepted} "
                f"recorded, {flood.errors:,} refused with 429; {others.requests:,} requests "
                f"from other clients meanwhile, 0 refused")
