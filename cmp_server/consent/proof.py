"""Proof for auditors: the site's consent records, sealed, with everything needed to check
them offline (see consent_logs.bundle for the format)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import IO, Any, Callable

from consent_logs.export import write_bundle
from cmp_server.accounts import audit
from cmp_server.consent import receipts, retention, sealing
from cmp_server.consent.subjects import officer_record
from cmp_server.sites.versions import published_content, published_ref
from cmp_server.platform.errors import ServiceError
from cmp_server.platform.extensions import db
from cmp_server.models import User, ledger
from cmp_server.consent.receipts import notice

RETENTION_RULE = ("A record is kept until its consent ended (expired, superseded or "
                  "withdrawn) plus the longest data retention among the vendors it granted; "
                  "then it is replaced by a tombstone holding its leaf hash and the reason.")


def retention_rules(site_key: str) -> dict[str, Any]:
    ref = published_ref(site_key)
    content = published_content(ref) if ref else None
    return {
        "rule": RETENTION_RULE,
        "as_of_version": ref.number if ref else None,
        "consent_lifetime_months": content and content["consent_lifetime_months"],
        "refusal_lifetime_months": content and content["refusal_lifetime_months"],
        "vendor_retention_months": {
            v["id"]: v["retention_months"] for v in content["vendors"]} if content else {},
    }


def check_request(site_key: str, start: datetime, end: datetime) -> None:
    """Refuse an export that cannot be made, before any work starts."""
    if start >= end:
        raise ServiceError({"to": ["must be after from"]})
    if published_ref(site_key) is None:
        raise ServiceError({"site": [f"unknown site {site_key!r}, or nothing published"]})


def bundle_name(site_key: str, start: datetime, end: datetime) -> str:
    """A bundle's file name: the site and the days it covers, both included."""
    last_day = end - timedelta(microseconds=1)
    return f"consent-proof-{site_key}-{start:%Y%m%d}-{last_day:%Y%m%d}.zip"


def export(site_key: str, start: datetime, end: datetime, out: IO[bytes],
           progress: Callable[[str, int, int], None] | None = None,
           actor: User | str | None = None) -> dict[str, Any]:
    """Purge what retention says must go, seal everything, then write the bundle for
    records issued in [start, end), and note the export in the audit trail (``actor``:
    None is the command line). Returns the manifest."""
    check_request(site_key, start, end)
    purged = retention.purge(progress=lambda done, total: progress and progress("purge", done, total))
    seals = sealing.seal_now(batch_size=10_000)
    extra = {
        "retention": {
            **retention_rules(site_key),
            "purged_before_export": {
                "ran_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "removed": purged.removed,
                "by_cause": dict(purged.by_cause()),
            },
        },
        "sealed_before_export": sum(s.record_count for s in seals),
    }
    conn = db.session.connection()
    manifest = write_bundle(out, ledger, conn, site_key, start, end, notice, extra,
                            progress=lambda done, total: progress and progress("seals", done, total))
    audit.record(actor, "proof.export", "site", site_key, after={
        "from": start.isoformat(), "until": end.isoformat(), **manifest["counts"]},
        note="records issued from 'from' up to, not including, 'until'")
    db.session.commit()
    return manifest


def subject_history(consent_id: str, officer: User | None) -> dict[str, Any]:
    """Every record of the visitor behind a consent id, on that site, for a compliance
    officer answering a request; the look-up is logged in the audit trail."""
    record = officer_record(consent_id, officer)
    records = [r for _, r in ledger.subject_records(db.session.connection(), record["site"],
                                                    record["subject_id"])]
    audit.record(officer, "subject.lookup", "receipt", consent_id, after={"records": len(records)})
    db.session.commit()
    return {"site": record["site"], "subject_id": record["subject_id"],
            "records": [{**r, "status": receipts.status_of(r)} for r in records]}
