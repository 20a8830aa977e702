"""A workspace's members: added by the e-mail of their account, their role changed, taken
out. Nobody changes their own membership (another admin must)."""
from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from cmp_server.accounts import audit, tokens, users
from cmp_server.accounts.workspaces import ROLE_CHOICE
from cmp_server.models import Membership, User, Workspace
from cmp_server.platform.errors import NotFound, ServiceError
from cmp_server.platform.extensions import db
from cmp_server.platform.schemas import StrictSchema, validated

class MemberSchema(StrictSchema):
    """Add a member by the e-mail of their account (the operator makes accounts)."""

    email = fields.Email(required=True, validate=validate.Length(max=254))
    role = fields.String(required=True, validate=ROLE_CHOICE)


class MemberUpdate(StrictSchema):
    role = fields.String(required=True, validate=ROLE_CHOICE)


def of_workspace(workspace: Workspace) -> list[Membership]:
    return list(db.session.execute(
        db.select(Membership).join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == workspace.id).order_by(User.email)).scalars())


def membership(workspace: Workspace, user_id: int) -> Membership:
    found = db.session.get(Membership, (workspace.id, user_id)) if 0 < user_id < 2**31 else None
    if found is None:
        raise NotFound("member", user_id)
    return found


def add_member(workspace: Workspace, payload: dict[str, Any], actor: User | str | None
               ) -> Membership:
    """Give an account a role in the workspace.

    Only operators make accounts: were a workspace's admin to make one (with a password
    they chose) for an e-mail another workspace adds later, they would hold that
    account's keys there. What a workspace's admin can still tell is whether an e-mail
    has an account here; without mail delivery to prove an address, no invitation flow
    hides that from whoever holds the invitation."""
    data = validated(MemberSchema(), payload)
    user = users.find_user(data["email"])
    if user is None:
        raise ServiceError({"email": ["no account with this e-mail: the platform's operator "
                                      "makes accounts"]})
    if db.session.get(Membership, (workspace.id, user.id)) is not None:
        raise ServiceError({"email": ["already a member: change their role instead"]})
    member = Membership(workspace_id=workspace.id, user_id=user.id, role=data["role"])
    db.session.add(member)
    audit.record(actor, "member.add", "workspace", workspace.id,
                 after={"user": user.id, "email": user.email, "role": member.role})
    db.session.commit()
    return member


def change_member(member: Membership, payload: dict[str, Any], actor: User | str | None
                  ) -> Membership:
    role = validated(MemberUpdate(), payload)["role"]
    refuse_own(member, actor, "role", role != member.role)
    audit.record(actor, "member.role", "workspace", member.workspace_id,
                 before={"user": member.user_id, "role": member.role},
                 after={"user": member.user_id, "role": role})
    member.role = role
    db.session.commit()
    return member


def remove_member(member: Membership, actor: User | str | None) -> None:
    """Take a member out; the collection tokens they made for the workspace's sites are
    revoked with it (they saw the secrets)."""
    refuse_own(member, actor, "member", True)
    revoked = tokens.revoke_collection_tokens_of(member.user, member.workspace_id)
    audit.record(actor, "member.remove", "workspace", member.workspace_id,
                 before={"user": member.user_id, "role": member.role},
                 after={"collection_tokens_revoked": revoked})
    db.session.delete(member)
    db.session.commit()


def refuse_own(member: Membership, actor: User | str | None, field: str, changes: bool) -> None:
    """Nobody demotes or removes themselves (another admin must): a workspace is never
    left without the admin who was running it by a slip."""
    if changes and isinstance(actor, User) and actor.id == member.user_id and not actor.operator:
        raise ServiceError({field: ["not your own: another admin of the workspace must change it"]})
