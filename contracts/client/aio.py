"""The async quote-to-cash client (httpx.AsyncClient)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, TypeVar

import httpx

from contracts.client import _core
from contracts.client._core import ClientSettings, TokenCache
from contracts.client.errors import TransportError
from contracts.client.models import QuoteToCashRunV1, QuoteToCashRunV2

__all__ = ["AsyncQuoteToCashClient"]

RunT = TypeVar("RunT", QuoteToCashRunV1, QuoteToCashRunV2)


class AsyncQuoteToCashClient(Generic[RunT]):
    """Quote-to-cash calls on one pinned API version. Build with `.v1(...)` or `.v2(...)`.

    Use as `async with`; pass `http` to share a client (then closing it is yours).
    """

    def __init__(
        self,
        settings: ClientSettings,
        model: type[RunT],
        http: httpx.AsyncClient | None = None,
        correlation: Callable[[], str | None] | None = None,
    ) -> None:
        self.settings = settings
        #: Where calls without an explicit `correlation_id` take theirs (e.g. the caller's request
        #: context, so one id follows a business transaction across services); else one is minted.
        self.correlation = correlation
        self.model: type[RunT] = model
        self.http = http or httpx.AsyncClient(base_url=settings.base_url, timeout=settings.timeout)
        self._owns_http = http is None
        self.tokens = TokenCache(settings)
        self._token_lock = asyncio.Lock()
        self._warned: set[str] = set()

    @classmethod
    def v1(
        cls, http: httpx.AsyncClient | None = None, correlation: Callable[[], str | None] | None = None, **settings: Any
    ) -> AsyncQuoteToCashClient[QuoteToCashRunV1]:
        return AsyncQuoteToCashClient(ClientSettings(version="v1", **settings), QuoteToCashRunV1, http, correlation)

    @classmethod
    def v2(
        cls, http: httpx.AsyncClient | None = None, correlation: Callable[[], str | None] | None = None, **settings: Any
    ) -> AsyncQuoteToCashClient[QuoteToCashRunV2]:
        return AsyncQuoteToCashClient(ClientSettings(version="v2", **settings), QuoteToCashRunV2, http, correlation)

    async def __aenter__(self) -> AsyncQuoteToCashClient[RunT]:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self.http.aclose()

    async def start_run(
        self, opportunity_id: str, *, idempotency_key: str | None = None, correlation_id: str | None = None
    ) -> RunT:
        """Start (or find) the run of an approved opportunity. Financially material: sends an Idempotency-Key
        (yours, or a generated one kept for every retry of this call)."""
        path = _core.run_path(self.settings.version)
        body = _core.encode({"opportunity_id": opportunity_id})
        return await self._call(
            "POST", path, body, material=True, idempotency_key=idempotency_key, correlation_id=correlation_id
        )

    async def get_run(self, run_id: str, *, correlation_id: str | None = None) -> RunT:
        """Read a run; NotFound when there is none."""
        return await self._call(
            "GET", _core.run_path(self.settings.version, run_id), None, correlation_id=correlation_id
        )

    async def _token(self) -> str | None:
        token = self.tokens.valid()
        if token or not self.tokens.can_fetch:
            return token or self.tokens.token
        async with self._token_lock:
            token = self.tokens.valid()
            if token:
                return token
            s = self.settings
            if not (s.token_url and s.client_id and s.client_secret):
                return self.tokens.token
            try:
                answer = await self.http.post(s.token_url, data=self.tokens.form(), auth=(s.client_id, s.client_secret))
            except httpx.TransportError as exc:
                raise TransportError(f"token endpoint unreachable: {exc}") from exc
            return self.tokens.store(answer.status_code, answer.content)

    async def _call(
        self,
        method: str,
        path: str,
        body: bytes | None,
        *,
        material: bool = False,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> RunT:
        if correlation_id is None and self.correlation is not None:
            correlation_id = self.correlation()
        headers = _core.request_headers(
            material=material, idempotency_key=idempotency_key, correlation_id=correlation_id
        )
        if body is not None:
            headers["Content-Type"] = "application/json"
        attempt, refreshed = 0, False
        while True:
            token = await self._token()
            auth = {"Authorization": f"Bearer {token}"} if token else {}
            try:
                answer = await self.http.request(method, path, content=body, headers={**headers, **auth})
            except httpx.TransportError as exc:
                delay = _core.retry_delay(self.settings, method, headers, attempt, status=None)
                if delay is None:
                    raise TransportError(f"{method} {path}: {exc}") from exc
                attempt += 1
                await asyncio.sleep(delay)
                continue
            if answer.status_code == 401 and not refreshed and self.tokens.can_fetch:
                refreshed = True  # the token may have been revoked or rotated: fetch one fresh token, once
                self.tokens.invalidate()
                continue
            delay = _core.retry_delay(
                self.settings, method, headers, attempt, status=answer.status_code, answer_headers=answer.headers
            )
            if delay is not None:
                attempt += 1
                await asyncio.sleep(delay)
                continue
            _core.warn_deprecation(answer.headers, f"{method} {self.settings.version} quote-to-cash runs", self._warned)
            run: RunT = _core.decode_answer(answer.status_code, answer.headers, answer.content, self.model)
            return run
