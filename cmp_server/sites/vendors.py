"""The catalogue in the database: importing the data files, finding vendors."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from typing import Iterable

from marshmallow import ValidationError
from sqlalchemy import or_

from consent_logs import content_hash
from cmp_server.accounts import audit, workspaces
from cmp_server.sites.catalogue import Refusal, VendorSchema, load_catalogue
from cmp_server.platform.errors import NotFound, ServiceError
from cmp_server.platform.extensions import db
from cmp_server.models import Purpose, Role, User, Vendor, utcnow

MARKETER = (Role.MARKETER.value,)


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"added    {i}" for i in self.added]
        out += [f"changed  {i}" for i in self.changed]
        out += [f"refused  {r}" for r in self.refused]
        refused_files = len({r.file for r in self.refused})
        out.append(
            f"{len(self.added)} added, {len(self.changed)} changed, "
            f"{len(self.unchanged)} unchanged, {refused_files} file(s) refused"
        )
        return out


def upsert_purpose(document: dict, report: ImportReport, actor) -> None:
    digest = content_hash(document)
    purpose = db.session.get(Purpose, document["id"])
    label = f"purpose {document['id']}"
    if purpose is None:
        db.session.add(Purpose(
            id=document["id"], required=document["required"], position=document["position"],
            document=document, content_hash=digest,
        ))
        audit.record(actor, "purpose.import", "purpose", document["id"], after=document)
        report.added.append(label)
    elif purpose.content_hash != digest:
        audit.record(
            actor, "purpose.import", "purpose", purpose.id, before=purpose.document, after=document
        )
        purpose.required, purpose.position = document["required"], document["position"]
        purpose.document, purpose.content_hash, purpose.updated_at = document, digest, utcnow()
        report.changed.append(label)
    else:
        report.unchanged.append(label)


def upsert_vendor(document: dict, file_name: str, report: ImportReport, actor) -> None:
    digest = content_hash(document)
    vendor = db.session.get(Vendor, document["id"])
    label = f"vendor {document['id']}"
    if vendor is not None and vendor.source != "catalogue":
        report.refused.append(
            Refusal(file_name, "id", f"{vendor.id!r} is taken by a custom vendor")
        )
        return
    purposes = [db.session.get(Purpose, p) for p in document["purposes"]]
    if vendor is None:
        db.session.add(Vendor(
            id=document["id"], name=document["name"], legal_basis=document["legal_basis"],
            source="catalogue", document=document, content_hash=digest, purposes=purposes,
        ))
        audit.record(actor, "vendor.import", "vendor", document["id"], after=document)
        report.added.append(label)
    elif vendor.content_hash != digest:
        audit.record(
            actor, "vendor.import", "vendor", vendor.id, before=vendor.document, after=document
        )
        vendor.name, vendor.legal_basis = document["name"], document["legal_basis"]
        vendor.document, vendor.content_hash, vendor.updated_at = document, digest, utcnow()
        vendor.purposes = purposes
        report.changed.append(label)
    else:
        report.unchanged.append(label)


def import_catalogue(directory: str | Path, actor: User | str | None = None) -> ImportReport:
    """Load every valid file of the catalogue into the database, in one transaction.
    Idempotent: a second run with the same files changes nothing."""
    catalogue = load_catalogue(directory)
    report = ImportReport(refused=list(catalogue.refused))
    for document in catalogue.purposes.values():
        upsert_purpose(document, report, actor)
    db.session.flush()
    for document in catalogue.vendors.values():
        upsert_vendor(document, f"{document['id']}.toml", report, actor)
    db.session.commit()
    return report


def usable_in(workspace_ids: Iterable[int]):
    """A condition: the catalogue's vendors and the custom vendors of these workspaces."""
    return or_(Vendor.workspace_id.is_(None), Vendor.workspace_id.in_(list(workspace_ids)))


def search_vendors(text: str | None = None, purpose: str | None = None,
                   workspace_ids: Iterable[int] = ()) -> list[Vendor]:
    """Catalogue vendors, and custom vendors of the given workspaces, whose name contains
    ``text``, serving ``purpose``."""
    query = db.select(Vendor).where(usable_in(workspace_ids)).order_by(Vendor.name)
    if text:
        query = query.where(Vendor.name.icontains(text.strip(), autoescape=True))  # % and _ literal
    if purpose:
        query = query.where(Vendor.purposes.any(Purpose.id == purpose))
    return list(db.session.execute(query).scalars())


def validate_custom(document: dict) -> dict:
    """A custom vendor is checked exactly like a catalogue file (VendorSchema), purposes too."""
    try:
        vendor = VendorSchema().load(document)
    except ValidationError as error:
        raise ServiceError(error.messages) from None
    unknown = [p for p in vendor["purposes"] if db.session.get(Purpose, p) is None]
    if unknown:
        raise ServiceError({"purposes": [f"unknown purpose(s): {', '.join(unknown)}"]})
    if "consent_signals" in vendor:  # an advanced Consent Mode site would run it unasked
        raise ServiceError({"consent_signals": [
            "only the catalogue's vendors may declare the consent signals their tags read"]})
    return vendor


def get_custom_vendor(vendor_id: str, user: User | None) -> Vendor:
    """A custom vendor the user may edit (a marketer of its workspace; anyone from the
    command line); another workspace's is 404. Catalogue vendors change through their
    files in vendors/, so they are refused."""
    vendor = db.session.get(Vendor, vendor_id)
    if vendor is not None and vendor.source != "custom":
        raise ServiceError({"id": ["a catalogue vendor: change its file in vendors/ and import"]})
    if vendor is None or (user is not None
                          and not workspaces.can(user, vendor.workspace_id, MARKETER)):
        raise NotFound("vendor", vendor_id)
    return vendor


def save_custom_vendor(document: dict, actor: User | str | None = None,
                       vendor_id: str | None = None, workspace_id: int | None = None) -> Vendor:
    """Add a site owner's own vendor to a workspace (``workspace_id``, or the actor's only
    one), or edit one (``vendor_id``).

    Vendor ids are one namespace across workspaces (a tag names its vendor by id, and the
    catalogue may grow into any id), so a new id another workspace took is refused as
    taken: that tells only that the id is in use, never by whom or with what."""
    vendor = validate_custom(document)
    user = actor if isinstance(actor, User) else None
    if vendor_id is not None:
        existing = get_custom_vendor(vendor_id, user)
        if vendor["id"] != vendor_id:
            raise ServiceError({"id": ["cannot change; it must stay " + repr(vendor_id)]})
    else:
        workspace = workspaces.target(user, workspace_id, MARKETER)
        if db.session.get(Vendor, vendor["id"]) is not None:
            raise ServiceError({"id": [f"{vendor['id']!r} is taken"]})
        existing = None
    purposes = [db.session.get(Purpose, p) for p in vendor["purposes"]]
    before = existing.document if existing else None
    if existing is None:
        existing = Vendor(id=vendor["id"], source="custom", workspace_id=workspace.id)
        db.session.add(existing)
    existing.name, existing.legal_basis = vendor["name"], vendor["legal_basis"]
    existing.document, existing.content_hash = vendor, content_hash(vendor)
    existing.purposes, existing.updated_at = purposes, utcnow()
    audit.record(actor, "vendor.save", "vendor", vendor["id"], before=before, after=vendor)
    db.session.commit()
    return existing
