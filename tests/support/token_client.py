"""The app's test client calling the API as a user's API token would: each call sends the
token as a bearer, and can say which status it expects."""
from __future__ import annotations

from cmp_server.accounts.tokens import create_token


class TokenClient:
    """``api(method, path, body, status=..., **options)``: ``path`` under ``prefix``
    (``/api/v1/admin``, say); ``status``, when given, is asserted."""

    def __init__(self, app, user, prefix: str = "", name: str = "automation") -> None:
        self.client = app.test_client()
        self.headers = {"Authorization": f"Bearer {create_token(user, name)[1]}"}
        self.prefix = prefix

    def __call__(self, method: str, path: str, body=None, status: int | None = None,
                 **options):
        answer = self.client.open(self.prefix + path, method=method, json=body,
                                  headers=self.headers, **options)
        if status is not None:
            assert answer.status_code == status, (method, path, answer.json)
        return answer
