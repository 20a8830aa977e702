"""Rows read for several seals at once, split back into each seal's share."""
from __future__ import annotations

from consent_logs.export import by_seal


def test_rows_are_split_by_seal_across_batches_and_empty_seals_still_end():
    batches = [[(1, "a"), (1, "b")], [(1, "c"), (3, "d")], [(3, "e"), (4, "f")]]
    assert list(by_seal(iter(batches), [1, 2, 3, 4, 5])) == [
        (1, [(1, "a"), (1, "b")]), (1, [(1, "c")]), (1, None),
        (2, None),  # none of its rows are left (a seal of another site's records, say)
        (3, [(3, "d")]), (3, [(3, "e")]), (3, None),
        (4, [(4, "f")]), (4, None),
        (5, None),
    ]


def test_no_rows_at_all():
    assert list(by_seal(iter([]), [7, 8])) == [(7, None), (8, None)]
