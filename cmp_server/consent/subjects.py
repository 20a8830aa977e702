"""Data-subject requests a visitor makes themselves with their receipt token (the seed's
"access my data, delete my data, change my data"): see the history, download it, change
the choice, erase it. Each request is logged (SubjectRequest) and the log kept 24 months.

The token is the credential: whoever holds the visitor's cookie token is that visitor for
this site. No session or cookie of ours is involved, so there is nothing to forge across
sites.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from cmp_server.accounts import audit, workspaces
from cmp_server.consent import receipts, sealing, sync
from cmp_server.platform.errors import Conflict, ServiceError
from cmp_server.platform.schemas import validated
from cmp_server.platform.extensions import db
from cmp_server.models import (
    SUBJECT_REQUEST_RETENTION_MONTHS, Role, Site, SubjectRequest, User, ledger,
)
from consent_logs.timeutil import add_months


@dataclass
class Subject:
    site: str
    subject_id: str
    receipt_id: str  # the consent id the visitor presented
    expires_at: int = 0  # when that token stops proving the subject (epoch seconds)


def identify(token: str) -> Subject:
    try:
        claims = receipts.read_token(token)
    except receipts.InvalidToken as error:
        raise ServiceError({"token": [str(error)]}, "That is not a valid consent token.") from None
    return Subject(claims["k"], claims["s"], claims["r"], claims.get("e", 0))


def log_request(subject: Subject, kind: str, outcome: str,
                handled_by: str = "self-service") -> SubjectRequest:
    now = datetime.now(timezone.utc)
    entry = SubjectRequest(kind=kind, site_key=subject.site, receipt_id=subject.receipt_id,
                           received_at=now, completed_at=now, outcome=outcome,
                           handled_by=handled_by)
    db.session.add(entry)
    db.session.commit()
    return entry


def history(token: str, kind: str = "access") -> tuple[Subject, list[dict[str, Any]]]:
    """The visitor's receipts on the site, oldest first, each with its current status."""
    subject = identify(token)
    records = [record for _, record in
               ledger.subject_records(db.session.connection(), subject.site, subject.subject_id)]
    if not records:
        raise ServiceError({"token": ["no consent records are held for this token: "
                                      "never recorded, erased, or past retention"]},
                           "Nothing found.")
    log_request(subject, kind, f"{len(records)} records shown")
    return subject, [{**record, "status": receipts.status_of(record)} for record in records]


def download(token: str) -> dict[str, Any]:
    subject, records = history(token, kind="download")
    return {"site": subject.site, "subject_id": subject.subject_id,
            "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "records": records}


def change(token: str, purposes: dict[str, bool], language: str) -> receipts.Recorded:
    """A new choice recorded through this page: a custom consent linked to the last one."""
    subject = identify(token)
    current = ledger.get(db.session.connection(), subject.receipt_id)
    if current is None:
        raise ServiceError({"token": ["this consent is no longer held"]})
    if subject.expires_at <= datetime.now(timezone.utc).timestamp():
        # it proves no subject any more (receipts.continuity): the change would start a
        # new one, which the site's cookie would never hear of
        raise ServiceError({"token": ["this consent token has expired: make a new choice in "
                                      "the site's privacy settings"]}, "Token expired.")
    version = receipts.published_ref(subject.site)
    content = receipts.published_content(version)
    required = {p["id"] for p in content["purposes"] if p["required"]}
    granted = {p["id"]: purposes.get(p["id"], False) for p in content["purposes"] if not p["required"]}
    # a vendor runs only with every one of its purposes
    vendors = {v["id"]: all(p in required or granted.get(p) for p in v["purposes"])
               for v in content["vendors"] if v["legal_basis"] == "consent"}
    recorded = receipts.record_validated(validated(receipts.ConsentSchema(), {
        "site": subject.site, "config_version": version.number, "action": "custom",
        "purposes": granted, "vendors": vendors, "language": language, "token": token,
        "collection_method": "api",
    }), None, None, caller=receipts.Caller.SELF_SERVICE)
    log_request(subject, "change", f"new receipt {recorded.receipt['receipt_id']}")
    return recorded


def erase(token: str) -> list[str]:
    """The visitor's own erasure request, authorised by their token."""
    return erase_subject(identify(token))


def officer_record(consent_id: str, officer: User | None,
                   message: str = "Invalid input.") -> dict[str, Any]:
    """The record behind a consent id, for an officer with the compliance role in its
    site's workspace (anyone from the command line). Another workspace's record gets the
    answer an unknown id gets: nothing tells it exists."""
    record = ledger.get(db.session.connection(), consent_id.strip())
    if record is not None and officer is not None:
        workspace = db.session.execute(
            db.select(Site.workspace_id).filter_by(key=record["site"])).scalar()
        if not workspaces.can(officer, workspace, (Role.COMPLIANCE.value,)):
            record = None
    if record is None:
        raise ServiceError({"consent_id": ["no record with this consent id (never recorded, "
                                           "erased, or past retention)"]}, message)
    return record


def erase_for_officer(consent_id: str, officer: User) -> list[str]:
    """An erasure a compliance officer carries out for a request that reached them another
    way (e-mail, the seed's form), naming the visitor by the consent id they gave."""
    record = officer_record(consent_id, officer, "Nothing to erase.")
    return erase_subject(Subject(record["site"], record["subject_id"], record["receipt_id"]),
                         officer)


def erase_subject(subject: Subject, officer: User | None = None) -> list[str]:
    """Replace all the visitor's records on the site by tombstones without personal parts
    (subject id, region, language); seals still verify. Logged and audited."""
    request_id = str(uuid.uuid4())
    erased = erase_sealed(subject, f"erasure request {request_id}")
    if not erased:
        raise ServiceError({"token": ["no consent records are held for this token"]},
                           "Nothing to erase.")
    handled_by = officer.email if officer else "self-service"
    log_request(subject, "erasure", f"request {request_id}: {len(erased)} records erased",
                handled_by)
    audit.record(officer or "data subject", "subject.erase", "site", subject.site,
                 after={"request": request_id, "receipts": erased})
    db.session.commit()
    return erased


ERASE_ATTEMPTS = 5


def erase_sealed(subject: Subject, reason: str) -> list[str]:
    """Seal, then erase the visitor's records (only sealed records can become tombstones);
    again when a choice of theirs was recorded in between."""
    for _ in range(ERASE_ATTEMPTS):
        sealing.seal_now(batch_size=10_000)
        # the browser's cookie holds one of these receipts: its banner must ask again
        db.session.commit()  # a fresh read: the records the seal just covered
        sync.mark_stale(subject.site, [record["receipt_id"] for _, record in
                                       ledger.subject_records(db.session.connection(),
                                                              subject.site, subject.subject_id)])
        try:
            with db.engine.begin() as conn:
                return ledger.erase_subject(conn, subject.site, subject.subject_id, reason,
                                            datetime.now(timezone.utc))
        except ValueError:  # a record appended after the seal: seal it too
            continue
    raise Conflict({"token": ["choices of this visitor were being recorded at the same time; "
                              "nothing was erased, ask again"]}, "Try again.")


def purge_request_log(now: datetime | None = None) -> int:
    """Delete request log entries older than 24 months."""
    cutoff = add_months(now or datetime.now(timezone.utc), -SUBJECT_REQUEST_RETENTION_MONTHS)
    removed = db.session.query(SubjectRequest).filter(SubjectRequest.received_at < cutoff).delete()
    db.session.commit()
    return removed
