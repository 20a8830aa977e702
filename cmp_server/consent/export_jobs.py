"""Proof exports for the console, written in the background: a compliance officer asks
for a period, gets a page that shows the export's progress, and downloads the bundle when
it is ready, instead of holding a request open while a year of records is written.

The job is a row (``ProofExport``) and its bundle a file in the instance folder
(``exports/<id>.zip``, written as ``.part`` and renamed when complete), so every worker of
the server sees the same jobs: nothing is shared in memory. The export runs in a thread of
the worker that got the request, on that thread's own session, and writes its progress to
the row on a connection of its own, at most once a second. A worker that dies mid-export
leaves a row that stays "running": after ``STALE_AFTER`` it is shown as failed. Finished
exports are removed, file and row, ``KEEP_FOR`` after they end (each start and each page
of exports sweeps).
"""
from __future__ import annotations

import os
import secrets
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import update

from consent_logs.timeutil import as_utc
from cmp_server.accounts import audit
from cmp_server.consent import proof
from cmp_server.models import ProofExport, Site, User, utcnow
from cmp_server.platform.extensions import db

KEEP_FOR = timedelta(hours=24)
STALE_AFTER = timedelta(hours=2)
PROGRESS_EVERY = 1.0  # seconds between progress writes
STAGES = {"purge": "removing records past their retention", "seals": "writing the bundle"}


def export_dir() -> Path:
    return Path(current_app.instance_path) / "exports"


def bundle_path(job: ProofExport) -> Path:
    return export_dir() / f"{job.id}.zip"


def is_stale(job: ProofExport) -> bool:
    return job.status == "running" and utcnow() - as_utc(job.started_at) > STALE_AFTER


def set_fields(job_id: str, **values) -> None:
    """Update the job's row on a connection of its own, committed at once (the export's
    session holds its own transaction meanwhile)."""
    with db.engine.begin() as conn:
        conn.execute(update(ProofExport).where(ProofExport.id == job_id).values(**values))


def sweep() -> int:
    """Remove finished exports older than KEEP_FOR (file and row) and files no job names;
    mark exports whose worker died as failed. Returns how many were removed."""
    now = utcnow()
    folder = export_dir()
    removed = 0
    for job in db.session.execute(db.select(ProofExport)).scalars():
        if is_stale(job):
            job.status, job.finished_at = "failed", now
            job.error = "interrupted: the server stopped while writing it"
        if job.finished_at is not None and now - as_utc(job.finished_at) > KEEP_FOR:
            bundle_path(job).unlink(missing_ok=True)
            db.session.delete(job)
            removed += 1
    db.session.commit()
    if folder.is_dir():
        known = {job_id for (job_id,) in db.session.execute(db.select(ProofExport.id))}
        for leftover in folder.iterdir():
            old = time.time() - leftover.stat().st_mtime > KEEP_FOR.total_seconds()
            if leftover.name.split(".")[0] not in known and old:
                leftover.unlink(missing_ok=True)
    return removed


def start(app: Flask, site: Site, period_from: datetime, period_until: datetime,
          actor: User) -> tuple[ProofExport, threading.Thread]:
    """Check the request, note the job, and write the bundle in a thread of this worker."""
    proof.check_request(site.key, period_from, period_until)
    sweep()
    job = ProofExport(id=secrets.token_hex(16), site_id=site.id,
                      started_by=audit.actor_name(actor), period_from=period_from,
                      period_until=period_until, status="running", stage="queued", done=0,
                      total=0)
    db.session.add(job)
    db.session.commit()
    thread = threading.Thread(target=run, args=(app, job.id, site.key, period_from,
                                                period_until, actor.id),
                              name=f"export-{job.id[:8]}", daemon=True)
    thread.start()
    return job, thread


def run(app: Flask, job_id: str, site_key: str, period_from: datetime,
        period_until: datetime, actor_id: int) -> None:
    with app.app_context():
        folder = export_dir()
        folder.mkdir(parents=True, exist_ok=True)
        final, partial = folder / f"{job_id}.zip", folder / f"{job_id}.part"
        last = 0.0

        def progress(stage: str, done: int, total: int) -> None:
            nonlocal last
            if time.monotonic() - last >= PROGRESS_EVERY or done == total:
                last = time.monotonic()
                set_fields(job_id, stage=stage, done=done, total=total)

        try:
            with open(partial, "wb") as out:
                manifest = proof.export(site_key, period_from, period_until, out, progress,
                                        actor=db.session.get(User, actor_id))
            os.replace(partial, final)
            set_fields(job_id, status="done", stage="done", finished_at=utcnow(),
                       records=manifest["counts"]["records"], size=final.stat().st_size)
        except Exception as failure:  # the page shows it; the worker goes on
            db.session.rollback()
            partial.unlink(missing_ok=True)
            app.logger.exception("proof export %s of site %s failed", job_id, site_key)
            set_fields(job_id, status="failed", finished_at=utcnow(),
                       error=f"{type(failure).__name__}: {failure}")
        finally:
            db.session.remove()


def recent(sites: list[Site]) -> list[ProofExport]:
    """The exports of these sites still kept, newest first."""
    ids = [site.id for site in sites]
    return list(db.session.execute(
        db.select(ProofExport).where(ProofExport.site_id.in_(ids))
        .order_by(ProofExport.started_at.desc())).scalars())
