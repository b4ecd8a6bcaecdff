"""The public API as the console sees it: every call carries the signed-in person's token.

The console has no data of its own and no privileges of its own: the gateway and the process API
decide, for the person's token, what exists (another entity's resource is 404) and what may be
done (403). Answers are kept as decoded JSON for the templates; a refusal is an `ApiAnswer` with
the problem's `detail`, shown on the page, never an exception.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

import httpx
import msgspec

from experience.errors import ApiUnavailable, SessionRejected

__all__ = ["ApiAnswer", "ApiClient", "submission_key"]

_SUBMISSION = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class ApiAnswer(msgspec.Struct, kw_only=True, frozen=True):
    """One API answer: its status, decoded body and, for refusals, the problem's detail."""

    status: int
    body: Any = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def detail(self) -> str:
        if isinstance(self.body, dict):
            return str(self.body.get("detail") or self.body.get("title") or f"HTTP {self.status}")
        return f"HTTP {self.status}"


class ApiClient:
    """GET and POST against the gateway with a person's bearer token."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def _send(
        self,
        method: str,
        path: str,
        token: str,
        *,
        params: Mapping[str, str] | None,
        body: object,
        key: str | None = None,
    ) -> ApiAnswer:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        content: bytes | None = None
        if method == "POST":
            headers["Idempotency-Key"] = key or uuid.uuid4().hex
            headers["Content-Type"] = "application/json"
            content = msgspec.json.encode(body if body is not None else {})
        try:
            response = await self._http.request(
                method, path, params=dict(params or {}), headers=headers, content=content
            )
        except httpx.HTTPError as exc:
            raise ApiUnavailable(f"The API could not be reached: {exc}") from exc
        if response.status_code == 401:
            # Refreshing happens before the call, so a 401 means this sign-in is no longer good.
            raise SessionRejected("The API no longer accepts your sign-in: sign in again.")
        if response.status_code >= 500:
            raise ApiUnavailable(f"The API failed (HTTP {response.status_code}); try again shortly.")
        try:
            decoded = response.json() if response.content else None
        except ValueError:
            decoded = None
        return ApiAnswer(status=response.status_code, body=decoded)

    async def get(self, path: str, token: str, params: Mapping[str, str] | None = None) -> ApiAnswer:
        return await self._send("GET", path, token, params=params, body=None)

    async def post(self, path: str, token: str, body: object = None, *, key: str | None = None) -> ApiAnswer:
        """POST `body`; `key` (from `submission_key`) makes a form sent twice one change at the gateway."""
        return await self._send("POST", path, token, params=None, body=body, key=key)


def submission_key(form: Mapping[str, str], *parts: str) -> str | None:
    """The Idempotency-Key of one submitted form: the random id rendered into the form (so a
    double-click or a resent form is the same intended change), plus `parts` naming which call of
    the submission it is; None when the form carries no well-formed id (a fresh key is used)."""
    submission = form.get("submission", "")
    if not _SUBMISSION.match(submission):
        return None
    return ":".join(("console", submission, *parts))
