"""Shared marshmallow pieces: every schema refuses unknown fields and loose types."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate

from cmp_server.platform.errors import ServiceError


UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_text(value: Any, path: str = "") -> str | None:
    """The path of the first string (key or value) holding a NUL byte or an unpaired
    surrogate: no database stores either (PostgreSQL refuses NUL in text, UTF-8 has no
    surrogates), so they are bad input, refused before anything is written."""
    if isinstance(value, str):
        return path or "(input)" if UNSTORABLE.search(value) else None
    items = value.items() if isinstance(value, dict) else (
        enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        where = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and UNSTORABLE.search(key):
            return where
        found = unstorable_text(item, where)
        if found:
            return found
    return None


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE

    @pre_load
    def refuse_unstorable_text(self, data, **_kwargs):
        path = unstorable_text(data)
        if path:
            raise ValidationError("must not contain NUL bytes or unpaired surrogates", path)
        return data


class FullMatch(validate.Regexp):
    """validate.Regexp on the whole value: ``re.match`` lets a ``$`` match before a final
    newline, so "DE\n" would pass ``^[A-Z]{2}$``."""

    def __call__(self, value):
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


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


class UTCDateTime(fields.DateTime):
    """A timestamp answered with its offset: SQLite hands back the UTC values it stores
    without one, and a date-time without an offset is not RFC 3339."""

    def _serialize(self, value: datetime | None, attr, obj, **kwargs):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return super()._serialize(value, attr, obj, **kwargs)
