"""Parts of the export: rows read for several seals at once, split back into each seal's
share; the records member deflated by ISA-L, read back by zlib."""
from __future__ import annotations

import io
import zipfile

from consent_logs.bundle import COMPRESSION
from consent_logs.export import by_seal, deflating_with_isal


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


def test_the_records_member_is_deflated_by_isal_and_reads_back_anywhere(tmp_path):
    lines = b"".join(b'{"seal":1,"position":%d,"record":{"purposes":{"analytics":true}}}\n' % n
                     for n in range(50_000))
    out = tmp_path / "bundle.zip"
    with zipfile.ZipFile(out, "w", **COMPRESSION) as archive, \
            archive.open("records.jsonl", "w", force_zip64=True) as member:
        deflating_with_isal(member)
        assert type(member._compressor).__module__.startswith("isal")
        for start in range(0, len(lines), 1 << 16):
            member.write(lines[start:start + (1 << 16)])
    with zipfile.ZipFile(out) as archive:  # inflated by zlib, as any unzip would
        assert archive.read("records.jsonl") == lines
        assert archive.getinfo("records.jsonl").compress_size < len(lines) / 10


def test_a_member_already_written_keeps_its_compressor():
    with zipfile.ZipFile(io.BytesIO(), "w", **COMPRESSION) as archive, \
            archive.open("records.jsonl", "w") as member:
        member.write(b"already begun\n")
        before = member._compressor
        assert deflating_with_isal(member)._compressor is before


def test_rows_of_a_seal_out_of_order_stop_the_export():
    """Never a bundle with a share cut short: a row of a seal already ended is refused."""
    import pytest

    batches = [[(1, "a"), (2, "b")], [(1, "c")]]
    with pytest.raises(RuntimeError, match="seal 1 out of seal order"):
        list(by_seal(iter(batches), [1, 2]))


def test_seals_are_read_in_runs_of_bounded_members_and_parameters(monkeypatch):
    """One query per run: a reader open on SQLite holds its WAL back, and a statement takes
    only so many parameters, so a year of small seals is read in many queries."""
    import consent_logs.export as export_module

    monkeypatch.setattr(export_module, "MEMBERS_PER_QUERY", 100)
    monkeypatch.setattr(export_module, "SEALS_PER_QUERY", 3)
    seals = [(1, 60), (2, 30), (3, 20), (4, 150), (5, 1), (6, 1), (7, 1), (8, 1)]
    assert list(export_module.query_groups(seals)) == [[1, 2], [3], [4], [5, 6, 7], [8]]
    assert list(export_module.query_groups([])) == []
