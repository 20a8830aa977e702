"""Shared marshmallow pieces: every schema refuses unknown fields and loose types."""
from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields

from cmp_server.errors import ServiceError


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class StrictBoolean(fields.Boolean):
    """true or false only: not "yes", 1 or "false"."""

    default_error_messages = {"invalid": "Not a valid boolean: use true or false."}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


def validated(schema: Schema, payload: Any) -> dict[str, Any]:
    """The loaded data, or a ServiceError carrying marshmallow's field messages."""
    try:
        return schema.load(payload)
    except ValidationError as error:
        raise ServiceError(error.messages) from None
