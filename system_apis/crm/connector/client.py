"""The Salesforce REST client: sessions, error arrays to typed errors, SOQL with paging.

Retries of 502/503/504 and connect failures happen below, in servicekit's ResilientTransport
(idempotent calls only). Here: one re-authentication on 401 INVALID_SESSION_ID, and
403 REQUEST_LIMIT_EXCEEDED raised as SalesforceLimitExceeded at once (retrying burns allocation).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from servicekit.http import CircuitOpenError
from system_apis.crm.connector.auth import SalesforceSession, SessionProvider
from system_apis.crm.connector.wire import decode_json, error_from_response
from system_apis.crm.errors import SalesforceProtocolError, SalesforceUnreachable

__all__ = ["SalesforceClient", "UpsertResult", "soql_quote"]

Record = dict[str, Any]
# Salesforce takes currency as JSON numbers: write a Decimal's exact digits, never via float.
_encoder = msgspec.json.Encoder(decimal_format="number")


def soql_quote(value: str) -> str:
    """A SOQL string literal: quotes and backslashes escaped, so values cannot change the query."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


class UpsertResult:
    """The outcome of an upsert by external id."""

    __slots__ = ("created", "id")

    def __init__(self, record_id: str, created: bool) -> None:
        self.id = record_id
        self.created = created


class SalesforceClient:
    """Calls one org's REST API at a pinned version (e.g. `v62.0`)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        sessions: SessionProvider,
        *,
        api_version: str = "v62.0",
        batch_size: int | None = None,
    ) -> None:
        self.http = http
        self.sessions = sessions
        self.api_version = api_version
        self.batch_size = batch_size
        #: The last `Sforce-Limit-Info` value seen (`api-usage=<used>/<max>`), for metrics and logs.
        self.limit_info: str | None = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One call; `path` is absolute (`/services/data/...`). Raises a CrmError on any failure."""
        session = await self.sessions.session()
        response = await self._send(
            session, method=method, path=path, params=params, json_body=json_body, headers=headers
        )
        if response.status_code == 401:
            # The session timed out or was revoked: one fresh session, one more try.
            session = await self.sessions.session(stale=session)
            response = await self._send(
                session, method=method, path=path, params=params, json_body=json_body, headers=headers
            )
        if response.status_code >= 300:
            raise error_from_response(response)
        return response

    async def _send(
        self,
        session: SalesforceSession,
        *,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json_body: Any,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        all_headers = {"Authorization": f"Bearer {session.access_token}", "Accept": "application/json"}
        all_headers.update(headers or {})
        content = None
        if json_body is not None:
            content = _encoder.encode(json_body)
            all_headers["Content-Type"] = "application/json"
        try:
            response = await self.http.request(
                method, session.instance_url + path, params=params, content=content, headers=all_headers
            )
        except httpx.TimeoutException as exc:
            raise SalesforceUnreachable(f"{method} {path} timed out: {exc}", timeout=True) from exc
        except (httpx.TransportError, CircuitOpenError) as exc:
            raise SalesforceUnreachable(f"{method} {path} failed: {exc}") from exc
        self.limit_info = response.headers.get("sforce-limit-info", self.limit_info)
        return response

    def _data(self, suffix: str) -> str:
        return f"/services/data/{self.api_version}{suffix}"

    async def get_record(self, sobject: str, record_id: str, fields: Sequence[str] | None = None) -> Record:
        params = {"fields": ",".join(fields)} if fields else None
        response = await self.request("GET", self._data(f"/sobjects/{sobject}/{quote(record_id, safe='')}"),
                                      params=params)  # fmt: skip
        return _record(response)

    async def update_record(self, sobject: str, record_id: str, fields: Mapping[str, Any]) -> None:
        await self.request("PATCH", self._data(f"/sobjects/{sobject}/{quote(record_id, safe='')}"),
                           json_body=dict(fields))  # fmt: skip

    async def create_record(self, sobject: str, fields: Mapping[str, Any]) -> str:
        response = await self.request("POST", self._data(f"/sobjects/{sobject}"), json_body=dict(fields))
        return str(_record(response)["id"])

    async def upsert(self, sobject: str, field: str, value: str, fields: Mapping[str, Any]) -> UpsertResult:
        """Create or update by an external-id field (201 created, 200/204 updated)."""
        path = self._data(f"/sobjects/{sobject}/{field}/{quote(value, safe='')}")
        response = await self.request("PATCH", path, json_body=dict(fields))
        body = decode_json(response) or {}
        return UpsertResult(str(body.get("id", "")), response.status_code == 201)

    async def describe(self, sobject: str) -> Record:
        return _record(await self.request("GET", self._data(f"/sobjects/{sobject}/describe")))

    async def query_pages(self, soql: str, *, include_deleted: bool = False) -> AsyncIterator[list[Record]]:
        """Each page of a SOQL result, following `nextRecordsUrl` until `done`."""
        headers = {"Sforce-Query-Options": f"batchSize={self.batch_size}"} if self.batch_size else None
        resource = "/queryAll" if include_deleted else "/query"
        response = await self.request("GET", self._data(resource), params={"q": soql}, headers=headers)
        while True:
            body = _record(response)
            records = body.get("records")
            if not isinstance(records, list):
                raise SalesforceProtocolError("query result has no `records` list")
            yield records
            next_url = body.get("nextRecordsUrl")
            if body.get("done", True) or not next_url:
                return
            response = await self.request("GET", str(next_url), headers=headers)

    async def query(self, soql: str, *, include_deleted: bool = False) -> list[Record]:
        """Every record of a SOQL result, across all pages."""
        rows: list[Record] = []
        async for page in self.query_pages(soql, include_deleted=include_deleted):
            rows.extend(page)
        return rows


def _record(response: httpx.Response) -> Record:
    body = decode_json(response)
    if not isinstance(body, dict):
        raise SalesforceProtocolError(f"expected a JSON object from {response.request.url.path}")
    return body
