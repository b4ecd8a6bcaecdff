"""Authenticated calls to Anaplan: one cached AnaplanAuthToken, refreshed early, and bounded retries.

- The token comes from `POST {auth}/token/authenticate` (HTTP Basic) and is reused for every call
  (Anaplan warns against a token per call); `refresh_margin` seconds before `expiresAt` it is
  renewed with `POST {auth}/token/refresh`, falling back to a new login if that fails.
- A 401 on a call means the token died early: log in again once and repeat the call.
- 409 (model busy) and 429 (throttled) are retried `max_retries` times with exponential backoff
  and jitter, never sooner than a `Retry-After` Anaplan sent, then raise `PlanningBusy`; a
  `Retry-After` longer than `retry_max` raises it at once, carrying that wait for our 503.
- Everything else that is not the expected status becomes a typed `PlanningError`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping
from typing import Any

import httpx
import msgspec

from servicekit.client_tracing import vendor_call
from servicekit.http import CircuitOpenError
from servicekit.resilience import retry_after
from system_apis.planning.connector.config import AnaplanConfig
from system_apis.planning.errors import (
    PlanningAuthError,
    PlanningBusy,
    PlanningError,
    PlanningProtocolError,
    PlanningRequestRejected,
    PlanningUnavailable,
)

__all__ = ["AnaplanSession"]

log = logging.getLogger("system_apis.planning.connector")

_UNAVAILABLE = frozenset({502, 503, 504})


def _message(response: httpx.Response) -> str:
    """The vendor's own words: `status.message` or `statusMessage`, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        status = body.get("status")
        if isinstance(status, dict) and isinstance(status.get("message"), str):
            return str(status["message"])
        if isinstance(body.get("statusMessage"), str):
            return str(body["statusMessage"])
    return response.text[:200]


def _retry_after(response: httpx.Response) -> float | None:
    return retry_after(response.headers.get("retry-after"))


class AnaplanSession:
    """Sends Integration API calls with a valid token; safe to share between concurrent tasks."""

    def __init__(self, config: AnaplanConfig, http: httpx.AsyncClient) -> None:
        self.config = config
        self.http = http
        self._token: str | None = None
        self._expires_at = 0.0  # epoch seconds, from the vendor's expiresAt
        self._lock = asyncio.Lock()
        self.logins = 0
        self.refreshes = 0

    # -- token --------------------------------------------------------------------------------
    async def token(self) -> str:
        async with self._lock:
            if self._token is None:
                await self._login()
            elif time.time() >= self._expires_at - self.config.refresh_margin:
                await self._refresh()
            assert self._token is not None
            return self._token

    async def _auth_call(self, path: str, headers: Mapping[str, str], auth: httpx.Auth | None) -> httpx.Response:
        url = self.config.auth_url.rstrip("/") + path
        try:
            return await self.http.post(url, headers=dict(headers), auth=auth or httpx.USE_CLIENT_DEFAULT)
        except httpx.HTTPError as exc:
            raise PlanningUnavailable(f"Anaplan authentication unreachable at {url}: {exc}") from exc

    def _take_token(self, response: httpx.Response) -> None:
        try:
            info = msgspec.json.decode(response.content)["tokenInfo"]
            self._token = str(info["tokenValue"])
            self._expires_at = int(info["expiresAt"]) / 1000
        except (msgspec.DecodeError, KeyError, TypeError, ValueError) as exc:
            raise PlanningProtocolError(
                f"unreadable Anaplan token response: {exc}", status=response.status_code
            ) from exc

    async def _login(self) -> None:
        response = await self._auth_call(
            "/token/authenticate", {}, httpx.BasicAuth(self.config.user, self.config.password)
        )
        if response.status_code in (401, 403):
            raise PlanningAuthError(
                f"Anaplan refused the credentials of {self.config.user!r}: {_message(response)}",
                status=response.status_code,
            )
        if not response.is_success:
            raise self._unexpected(response, "authenticate")
        self._take_token(response)
        self.logins += 1

    async def _refresh(self) -> None:
        response = await self._auth_call("/token/refresh", {"Authorization": f"AnaplanAuthToken {self._token}"}, None)
        if response.is_success:
            self._take_token(response)
            self.refreshes += 1
        else:
            # A refused refresh (token already gone) is repaired by logging in again.
            self._token = None
            await self._login()

    async def _invalidate(self, token: str) -> None:
        async with self._lock:
            if self._token == token:
                self._token = None

    # -- calls --------------------------------------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        expect: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        """Send one call; returns the response when its status is in `expect`, raises PlanningError otherwise.

        Traced as one vendor call (`servicekit.client_tracing.vendor_call`), its retries inside it.
        """
        with vendor_call("anaplan", f"{method} {path}"):
            return await self._call(method, path, json=json, content=content, headers=headers, expect=expect)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any,
        content: bytes | None,
        headers: Mapping[str, str] | None,
        expect: tuple[int, ...],
    ) -> httpx.Response:
        reauthenticated = False
        retries = 0
        while True:
            token = await self.token()
            call_headers = {"Authorization": f"AnaplanAuthToken {token}", "Accept": "application/json"}
            call_headers.update(headers or {})
            try:
                response = await self.http.request(
                    method, self.config.api_url.rstrip("/") + path, json=json, content=content, headers=call_headers
                )
            except CircuitOpenError as exc:
                raise PlanningUnavailable(
                    f"Anaplan failed repeatedly; calls are paused ({method} {path}).", retry_after=exc.retry_after
                ) from exc
            except httpx.HTTPError as exc:
                raise PlanningUnavailable(f"Anaplan unreachable ({method} {path}): {exc}") from exc
            status = response.status_code
            if status in expect:
                return response
            if status == 401 and not reauthenticated:
                reauthenticated = True
                log.info("anaplan token refused, logging in again", extra={"call": f"{method} {path}"})
                await self._invalidate(token)
                continue
            told = _retry_after(response) if status in (409, 429) else None
            if status in (409, 429) and retries < self.config.max_retries and (told or 0.0) <= self.config.retry_max:
                # A Retry-After beyond `retry_max` is not waited out (nor cut short): the call fails
                # as PlanningBusy carrying it, and our 503 passes it on.
                retries += 1
                delay = self._backoff(retries, told)
                log.warning(
                    "anaplan %s, retrying",
                    "model busy" if status == 409 else "throttled",
                    extra={"call": f"{method} {path}", "attempt": retries, "delay_s": round(delay, 3)},
                )
                await asyncio.sleep(delay)
                continue
            raise self._error(response, f"{method} {path}")

    def _backoff(self, attempt: int, told: float | None) -> float:
        """Jittered exponential backoff, never sooner than Anaplan's `Retry-After` (`told`)."""
        ceiling = min(self.config.retry_max, self.config.retry_base * 2 ** (attempt - 1))
        delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography
        return max(delay, told or 0.0)

    async def json(self, method: str, path: str, *, json: Any = None, expect: tuple[int, ...] = (200,)) -> Any:
        response = await self.request(method, path, json=json, expect=expect)
        try:
            return msgspec.json.decode(response.content)
        except msgspec.DecodeError as exc:
            raise PlanningProtocolError(f"malformed JSON from Anaplan ({method} {path}): {exc}", status=200) from exc

    def _error(self, response: httpx.Response, what: str) -> PlanningError:
        status, text = response.status_code, _message(response)
        if status == 401:
            return PlanningAuthError(f"Anaplan refused our token twice ({what}): {text}", status=status)
        if status == 409:
            return PlanningBusy(
                f"Anaplan model busy after {self.config.max_retries} retries ({what}): {text}",
                status=status,
                retry_after=_retry_after(response) or self.config.retry_max,
            )
        if status == 429:
            return PlanningBusy(
                f"Anaplan throttled us after {self.config.max_retries} retries ({what}): {text}",
                status=status,
                retry_after=_retry_after(response) or self.config.retry_max,
            )
        return self._unexpected(response, what)

    @staticmethod
    def _unexpected(response: httpx.Response, what: str) -> PlanningError:
        status, text = response.status_code, _message(response)
        if status in _UNAVAILABLE:
            return PlanningUnavailable(
                f"Anaplan unavailable ({what}): {status} {text}", status=status, retry_after=_retry_after(response)
            )
        if 400 <= status < 500:
            return PlanningRequestRejected(f"Anaplan refused {what}: {status} {text}", status=status)
        if status >= 500:
            return PlanningError(f"Anaplan failed {what}: {status} {text}", status=status)
        return PlanningProtocolError(f"unexpected answer to {what}: {status} {text}", status=status)
