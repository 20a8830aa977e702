"""Workspaces (an agency or a company) and who may do what in them.

A site and a custom vendor belong to one workspace; a user is a member of workspaces
with a role in each (admin, marketer, compliance; an admin may do what the others may).
An operator, the platform's own admin, manages workspaces and users and acts as an admin
in every workspace: they run the server and hold its database and keys, so hiding sites
from them would protect nothing.

Anything of a workspace the caller is not a member of answers 404, as if it did not
exist: a 403 would confirm that it does.
"""
from __future__ import annotations

from typing import Any, Iterable

from marshmallow import fields, validate

from cmp_server.accounts import audit
from cmp_server.platform.errors import NotFound, ServiceError
from cmp_server.platform.extensions import db
from cmp_server.models import Role, User, Workspace
from cmp_server.platform.schemas import StrictSchema, validated

ROLES = [role.value for role in Role]
ROLE_CHOICE = validate.OneOf(ROLES, error="must be one of: " + ", ".join(ROLES))
DEFAULT_NAME = "Default"


class WorkspaceSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


# --- who may do what ------------------------------------------------------------------------

def role_allows(role: str | None, roles: Iterable[str]) -> bool:
    return role is not None and (role == Role.ADMIN.value or role in roles)


def can(user: User, workspace_id: int | None, roles: Iterable[str]) -> bool:
    """Whether the user holds one of ``roles`` (or admin) in the workspace."""
    return workspace_id is not None and role_allows(user.role_in(workspace_id), roles)


def visible(user: User, roles: Iterable[str]) -> list[Workspace]:
    """The workspaces in which the user holds one of ``roles``, by name."""
    roles = tuple(roles)
    everything = db.session.execute(db.select(Workspace).order_by(Workspace.name)).scalars()
    return [w for w in everything if can(user, w.id, roles)]


def visible_ids(user: User, roles: Iterable[str]) -> list[int]:
    return [w.id for w in visible(user, roles)]


def get_workspace(workspace_id: int, user: User | None = None,
                  roles: Iterable[str] = (Role.ADMIN.value,)) -> Workspace:
    """The workspace; with a user, only if they hold one of ``roles`` in it (else 404)."""
    workspace = db.session.get(Workspace, workspace_id) if 0 < workspace_id < 2**31 else None
    if workspace is None or (user is not None and not can(user, workspace.id, roles)):
        raise NotFound("workspace", workspace_id)
    return workspace


def find_by_name(name: str) -> Workspace | None:
    return db.session.execute(db.select(Workspace).filter_by(name=name.strip())).scalar_one_or_none()


def default_workspace() -> Workspace:
    """The workspace named "Default" (made when missing): the demo's home."""
    workspace = find_by_name(DEFAULT_NAME)
    if workspace is None:
        workspace = Workspace(name=DEFAULT_NAME)
        db.session.add(workspace)
        db.session.flush()
    return workspace


def only_workspace() -> Workspace | None:
    """The install's one workspace, made when there is none yet; None when there are
    several (the caller must then say which)."""
    found = db.session.execute(db.select(Workspace).limit(2)).scalars().all()
    if not found:
        return default_workspace()
    return found[0] if len(found) == 1 else None


def target(user: User | None, workspace_id: int | None, roles: Iterable[str]) -> Workspace:
    """Where a new site or vendor goes: the workspace named, if the user may work there,
    else the one workspace they may (or, from the command line, the install's only one)."""
    roles = tuple(roles)
    if workspace_id is not None:
        return get_workspace(workspace_id, user, roles)
    if user is None:
        only = only_workspace()
        if only is not None:
            return only
        choices = list(db.session.execute(db.select(Workspace).order_by(Workspace.name)).scalars())
    else:
        choices = visible(user, roles)
        if len(choices) == 1:
            return choices[0]
    listed = ", ".join(f"{w.id} ({w.name})" for w in choices)
    raise ServiceError({"workspace": [
        f"required: say which workspace ({listed})" if listed else "you are in no workspace"]})


# --- workspaces and their members -------------------------------------------------------------

def create_workspace(payload: dict[str, Any], actor: User | str | None) -> Workspace:
    name = validated(WorkspaceSchema(), payload)["name"].strip()
    if find_by_name(name) is not None:
        raise ServiceError({"name": [f"a workspace {name!r} already exists"]})
    workspace = Workspace(name=name)
    db.session.add(workspace)
    db.session.flush()
    audit.record(actor, "workspace.create", "workspace", workspace.id, after={"name": name})
    db.session.commit()
    return workspace


def rename_workspace(workspace: Workspace, payload: dict[str, Any], actor: User | str | None
                     ) -> Workspace:
    name = validated(WorkspaceSchema(), payload)["name"].strip()
    other = find_by_name(name)
    if other is not None and other.id != workspace.id:
        raise ServiceError({"name": [f"a workspace {name!r} already exists"]})
    audit.record(actor, "workspace.rename", "workspace", workspace.id,
                 before={"name": workspace.name}, after={"name": name})
    workspace.name = name
    db.session.commit()
    return workspace


