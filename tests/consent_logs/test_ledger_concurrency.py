"""Several processes record consents while another keeps sealing: every acknowledged
record ends up in exactly one seal and the whole chain verifies, on both engines."""
from __future__ import annotations

import multiprocessing

from sqlalchemy import func, select

from cmp_server.platform.extensions import db
from cmp_server.models import LEDGER_TABLES, ledger
from cmp_server.consent.sealing import seal_now
from tests.support import ledger_workers

WRITERS = 3
PER_WRITER = 80


def test_concurrent_writers_and_sealers_never_corrupt_a_seal(shop, database_url, instance_path):
    site, _ = shop
    db.session.commit()
    expected = WRITERS * PER_WRITER
    context = multiprocessing.get_context("spawn")
    with context.Pool(WRITERS + 2) as pool:
        sealers = [pool.apply_async(ledger_workers.keep_sealing,
                                    (database_url, str(instance_path), expected, 180))
                   for _ in range(2)]  # two sealers racing each other as well
        writers = [pool.apply_async(ledger_workers.write_consents,
                                    (database_url, str(instance_path), site.key, PER_WRITER))
                   for _ in range(WRITERS)]
        acknowledged = {rid for w in writers for rid in w.get(timeout=180)}
        seals_made = sum(s.get(timeout=200) for s in sealers)

    assert len(acknowledged) == expected
    seal_now(batch_size=1000)  # nothing may be left over
    conn = db.session.connection()
    assert ledger.verify(conn) == expected
    stored = set(conn.execute(select(LEDGER_TABLES.records.c.receipt_id)).scalars())
    assert stored == acknowledged
    members = conn.execute(select(func.count()).select_from(LEDGER_TABLES.seal_members)).scalar_one()
    assert members == expected
    # the sealers really ran while records were being written
    assert seals_made > 3
