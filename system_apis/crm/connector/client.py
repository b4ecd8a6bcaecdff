"""The Salesforce REST client: sessions, error arrays to typed errors, SOQL with paging.

Retries of 502/503/504 and connect failures happen below, in servicekit's ResilientTransport
(idempotent calls only). Here: one re-authentication on 401 INVALID_SESSION_ID, and
403 REQUEST_LIMIT_EXCEEDED raised as SalesforceLimitExceeded at once (retrying burns allocation).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote, urlencode

import httpx
import msgspec

from servicekit.client_tracing import vendor_call, vendor_limit_remaining
from servicekit.http import CircuitOpenError
from system_apis.crm.connector.auth import SalesforceSession, SessionProvider
from system_apis.crm.connector.wire import decode_json, error_from_body, error_from_response
from system_apis.crm.errors import SalesforceProtocolError, SalesforceUnreachable

__all__ = ["SalesforceClient", "UpsertResult", "soql_quote"]

Record = dict[str, Any]
# Salesforce takes currency as JSON numbers: write a Decimal's exact digits, never via float.
_encoder = msgspec.json.Encoder(decimal_format="number")
_ACCEPT: Final = "application/json"
_FIELD_LISTS: Final = 32


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
        # Requests are built here and handed to `send`: the client's defaults (its headers, timeout) are
        # merged once, not per call (`build_request` re-parses and re-merges every time: a third of a
        # call's CPU in httpx). The client has no cookies or auth to merge (servicekit's client keeps none).
        self._headers: dict[str, str] = {name.lower(): value for name, value in http.headers.items()}
        self._headers["accept"] = _ACCEPT
        self._timeout = http.timeout.as_dict()
        self._fields_query: dict[tuple[str, ...], str] = {}

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
        with vendor_call("salesforce", f"{method} {path}") as span:
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
            remaining = _remaining(self.limit_info)
            if remaining is not None:
                vendor_limit_remaining("salesforce", remaining, span)
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
        all_headers = self._headers.copy()
        all_headers["authorization"] = f"Bearer {session.access_token}"
        if headers:
            all_headers.update((name.lower(), value) for name, value in headers.items())
        content = None
        if json_body is not None:
            content = _encoder.encode(json_body)
            all_headers["content-type"] = _ACCEPT
        url = session.instance_url + path
        if params:
            url += ("&" if "?" in path else "?") + urlencode(params)
        request = httpx.Request(
            method, url, headers=all_headers, content=content, extensions={"timeout": self._timeout}
        )
        try:
            response = await self.http.send(request)
        except httpx.TimeoutException as exc:
            raise SalesforceUnreachable(f"{method} {path} timed out: {exc}", timeout=True) from exc
        except CircuitOpenError as exc:
            unreachable = SalesforceUnreachable(f"{method} {path} refused, Salesforce failed repeatedly: {exc}")
            unreachable.retry_after = exc.retry_after
            raise unreachable from exc
        except httpx.TransportError as exc:
            raise SalesforceUnreachable(f"{method} {path} failed: {exc}") from exc
        self.limit_info = response.headers.get("sforce-limit-info", self.limit_info)
        return response

    def _data(self, suffix: str) -> str:
        return f"/services/data/{self.api_version}{suffix}"

    def _record_path(self, sobject: str, record_id: str, fields: Sequence[str] | None = None) -> str:
        path = self._data(f"/sobjects/{sobject}/{quote(record_id, safe='')}")
        if fields:
            key = tuple(fields)
            query = self._fields_query.get(key)
            if query is None:
                query = "?" + urlencode({"fields": ",".join(key)})
                if len(self._fields_query) < _FIELD_LISTS:  # callers ask for a few fixed lists: encode each once
                    self._fields_query[key] = query
            path += query
        return path

    async def get_record(self, sobject: str, record_id: str, fields: Sequence[str] | None = None) -> Record:
        return _record(await self.request("GET", self._record_path(sobject, record_id, fields)))

    async def update_record(self, sobject: str, record_id: str, fields: Mapping[str, Any]) -> None:
        await self.request("PATCH", self._record_path(sobject, record_id), json_body=dict(fields))

    async def composite(self, subrequests: Sequence[Mapping[str, Any]], *, all_or_none: bool = True) -> list[Record]:
        """`POST /composite`: the subrequests in one call (one of the API allocation); their answers
        (`body`, `httpStatusCode`, `referenceId`) in order. A failed subrequest does not raise here."""
        body = {"allOrNone": all_or_none, "compositeRequest": list(subrequests)}
        answers = _record(await self.request("POST", self._data("/composite"), json_body=body)).get("compositeResponse")
        if not isinstance(answers, list) or len(answers) != len(subrequests):
            raise SalesforceProtocolError("composite answer lacks one `compositeResponse` entry per subrequest")
        return [a if isinstance(a, dict) else {} for a in answers]

    async def update_and_get(
        self, sobject: str, record_id: str, fields: Mapping[str, Any], read_fields: Sequence[str] | None = None
    ) -> Record:
        """Update a record and read it back in one composite call (all or none): the record as stored.

        Raises the update's error (nothing written then), else the read's.
        """
        update = {"method": "PATCH", "url": self._record_path(sobject, record_id), "referenceId": "update",
                  "body": dict(fields)}  # fmt: skip
        read = {"method": "GET", "url": self._record_path(sobject, record_id, read_fields), "referenceId": "read"}
        answers = await self.composite([update, read])
        for answer in answers:
            status = answer.get("httpStatusCode")
            if not isinstance(status, int):
                raise SalesforceProtocolError("composite subrequest answer has no httpStatusCode")
            if status >= 300:
                raise error_from_body(status, answer.get("body"))
        record = answers[1].get("body")
        if not isinstance(record, dict):
            raise SalesforceProtocolError(f"expected a {sobject} record from the composite read")
        return record

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


def _remaining(limit_info: str | None) -> int | None:
    """Calls left from `Sforce-Limit-Info: api-usage=<used>/<max>` (None when absent or unreadable)."""
    if not limit_info or "api-usage=" not in limit_info:
        return None
    usage = limit_info.split("api-usage=", 1)[1].split(",", 1)[0].strip()
    used, _, most = usage.partition("/")
    if not used.isdigit() or not most.isdigit():
        return None
    return max(int(most) - int(used), 0)
