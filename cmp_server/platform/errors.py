"""Errors that service functions raise and every interface (API, console, CLI) reports."""
from __future__ import annotations

from typing import Any


def flatten_errors(
    messages: Any, prefix: str = "", root: str = "(input)"
) -> list[tuple[str, str]]:
    """marshmallow's nested error dict as (field path, reason) pairs, e.g.
    ``{"cookies": {2: {"lifetime": ["..."]}}}`` -> ``[("cookies[2].lifetime", "...")]``."""
    if isinstance(messages, str):
        return [(prefix or root, messages)]
    if isinstance(messages, list):
        return [pair for item in messages for pair in flatten_errors(item, prefix, root)]
    pairs = []
    for key, value in messages.items():
        if key == "_schema":
            path = prefix or root
        elif isinstance(key, int):
            path = f"{prefix}[{key}]"
        else:
            path = f"{prefix}.{key}" if prefix else str(key)
        pairs.extend(flatten_errors(value, path, root))
    return pairs


class ServiceError(Exception):
    """Bad input for a service call: nothing was changed.

    ``errors`` maps each offending field to its reasons, in the shape of marshmallow's
    messages, so the API can answer ``{"errors": {"json": errors}}``.
    """

    status = 422

    def __init__(self, errors: dict[str, list[str]], message: str = "Invalid input."):
        super().__init__(message)
        self.errors = errors
        self.message = message

    def __str__(self) -> str:
        details = "; ".join(f"{field}: {reason}" for field, reason in flatten_errors(self.errors))
        return f"{self.message} {details}".strip()


class Conflict(ServiceError):
    """The request lost a race it may win if tried again: nothing was changed."""

    status = 409


class NotFound(ServiceError):
    status = 404

    def __init__(self, what: str, ident: object):
        super().__init__({what: [f"no {what} {ident!r}"]}, message=f"Unknown {what}.")
