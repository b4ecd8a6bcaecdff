"""Token-based authentication (OAuth 1.0a, RFC 5849) as NetSuite accepts it on REST web services.

A request carries `Authorization: OAuth realm="<account id>", oauth_consumer_key=..., oauth_token=...,
oauth_signature_method="HMAC-SHA256", oauth_timestamp=..., oauth_nonce=..., oauth_version="1.0",
oauth_signature=...`. The signature is checked for real: HMAC-SHA256 over the signature base string
(method, the URL the client called, and the query and `oauth_*` parameters, RFC 5849 section
3.4.1), keyed with the integration's consumer secret and the token's secret. `realm` must be the
account id; the timestamp must be within five minutes; a nonce is accepted once per timestamp.
Only HMAC-SHA256 is accepted (NetSuite retired HMAC-SHA1). Form-encoded bodies are not part of
NetSuite REST, so no body parameters enter the base string.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import time
from collections import OrderedDict
from typing import NamedTuple
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from system_apis.erp.sandbox.errors import NetSuiteError

__all__ = ["MAX_CLOCK_SKEW", "TbaCredentials", "TokenBasedAuth", "base_string", "sign"]

log = logging.getLogger("system_apis.erp.sandbox.tba")

#: Seconds a request's `oauth_timestamp` may differ from the sandbox clock.
MAX_CLOCK_SKEW = 300
_NONCES_KEPT = 10_000
_PARAM = re.compile(r'\s*([A-Za-z_]+)\s*=\s*"([^"]*)"\s*(?:,|$)')
_REQUIRED = ("oauth_consumer_key", "oauth_token", "oauth_signature_method", "oauth_timestamp", "oauth_nonce")


class TbaCredentials(NamedTuple):
    """An integration record's consumer key/secret and one access token (id/secret) of its user."""

    consumer_key: str
    consumer_secret: str
    token_id: str
    token_secret: str


def _encode(value: str) -> str:
    # RFC 5849 3.6: every character but ALPHA, DIGIT, "-", ".", "_", "~" percent-encoded (UTF-8).
    return quote(value, safe="~")


def base_string(method: str, url: str, params: list[tuple[str, str]]) -> str:
    """The signature base string of a request to `url` (its query is part of `params`, not of the URI)."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    port = parts.port
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    uri = f"{scheme}://{host}{parts.path or '/'}"
    normalized = "&".join(f"{k}={v}" for k, v in sorted((_encode(k), _encode(v)) for k, v in params))
    return "&".join((method.upper(), _encode(uri), _encode(normalized)))


def sign(base: str, consumer_secret: str, token_secret: str) -> str:
    """HMAC-SHA256 of `base`, keyed `<consumer secret>&<token secret>`, base64."""
    key = f"{_encode(consumer_secret)}&{_encode(token_secret)}".encode()
    return base64.b64encode(hmac.new(key, base.encode(), hashlib.sha256).digest()).decode()


def _invalid_login(reason: str) -> NetSuiteError:
    # NetSuite names no reason (it is in the account's Login Audit Trail): the sandbox logs it.
    log.info("TBA login refused: %s", reason)
    return NetSuiteError(401, "INVALID_LOGIN", "Invalid login attempt. For more details, see the Login Audit Trail.")


class TokenBasedAuth:
    """Verifies OAuth 1.0a headers for one account and its integration's tokens."""

    def __init__(self, account_id: str, credentials: TbaCredentials) -> None:
        self.account_id = account_id
        self.credentials = credentials
        self._seen: OrderedDict[tuple[str, str, str], None] = OrderedDict()

    def verify(self, authorization: str, method: str, url: str) -> str:
        """The consumer key of a correctly signed request to `url`; 401 INVALID_LOGIN otherwise."""
        kind, _, rest = authorization.partition(" ")
        if kind.lower() != "oauth":
            raise _invalid_login("not an OAuth header")
        header = {k: unquote(v) for k, v in _PARAM.findall(rest)}
        missing = [name for name in (*_REQUIRED, "oauth_signature", "realm") if not header.get(name)]
        if missing:
            raise _invalid_login(f"missing {', '.join(missing)}")
        if header["realm"] != self.account_id:
            raise _invalid_login(f"realm {header['realm']!r} is not the account id")
        if header["oauth_signature_method"] != "HMAC-SHA256":
            raise _invalid_login(f"signature method {header['oauth_signature_method']} (only HMAC-SHA256)")
        if header.get("oauth_version", "1.0") != "1.0":
            raise _invalid_login("oauth_version must be 1.0")
        creds = self.credentials
        if header["oauth_consumer_key"] != creds.consumer_key or header["oauth_token"] != creds.token_id:
            raise _invalid_login("unknown consumer key or token")
        timestamp = header["oauth_timestamp"]
        if not timestamp.isdigit() or abs(int(timestamp) - time.time()) > MAX_CLOCK_SKEW:
            raise _invalid_login("timestamp outside five minutes of the server clock")
        params = [(k, v) for k, v in header.items() if k.startswith("oauth_") and k != "oauth_signature"]
        params += parse_qsl(urlsplit(url).query, keep_blank_values=True)
        expected = sign(base_string(method, url, params), creds.consumer_secret, creds.token_secret)
        if not hmac.compare_digest(expected, header["oauth_signature"]):
            raise _invalid_login("signature does not verify")
        nonce = (creds.token_id, timestamp, header["oauth_nonce"])
        if nonce in self._seen:
            raise _invalid_login("nonce already used")
        self._seen[nonce] = None
        while len(self._seen) > _NONCES_KEPT:
            self._seen.popitem(last=False)
        return creds.consumer_key
