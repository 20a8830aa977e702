"""The audit trail: every change, who made it, when, and the state before and after.

Service functions call ``record`` in the same transaction as the change they describe, so
a change and its audit event commit or roll back together.
"""
from __future__ import annotations

from typing import Any

from cmp_server.platform.extensions import db
from cmp_server.models import AuditEvent, User

CLI_ACTOR = "cli"


def actor_name(actor: User | str | None) -> str:
    if isinstance(actor, User):
        return actor.email
    return actor or CLI_ACTOR


def record(
    actor: User | str | None,
    action: str,
    entity_type: str,
    entity_id: Any,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    note: str | None = None,
) -> AuditEvent:
    event = AuditEvent(
        actor=actor_name(actor),
        user_id=actor.id if isinstance(actor, User) else None,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        before=before,
        after=after,
        note=note,
    )
    db.session.add(event)
    return event
