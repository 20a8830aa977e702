"""The garbage-collection benchmark (bench.gc_pauses) must time full collections of a
process serving banner GETs, freeze the way gunicorn.conf.py does, and refuse to report
when the app answered anything but 200."""
import gc

import pytest

from bench.gc_pauses import FullCollections, serve


def test_full_collections_are_timed_and_no_others():
    with FullCollections() as collections:
        gc.collect(0)
        gc.collect(1)
        gc.collect()
    gc.collect()  # after leaving: not counted
    assert len(collections.pauses) == 1 and collections.pauses[0] > 0


def test_a_run_reports_its_slowest_request(app, shop):
    site, _version = shop
    measured = serve(app, site.key, requests=50, frozen=False)
    assert measured["slowest"] > 0 and isinstance(measured["pauses"], list)


def test_the_frozen_variant_runs_the_shipped_hook(app, shop):
    site, _version = shop
    try:
        serve(app, site.key, requests=10, frozen=True)
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


def test_a_run_with_requests_not_answered_200_is_refused(app):
    with pytest.raises(RuntimeError, match=r"request 0 answered '404"):
        serve(app, "no-such-site", requests=5, frozen=False)
