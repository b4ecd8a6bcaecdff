"""Salesforce's wire conventions shared by the token and REST calls: JSON with Decimal, error arrays."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

import httpx
import msgspec

from servicekit.resilience import retry_after
from system_apis.crm.errors import (
    SalesforceAuthError,
    SalesforceError,
    SalesforceLimitExceeded,
    SalesforceNotFound,
    SalesforceProtocolError,
    SalesforceQueryError,
    SalesforceUnavailable,
    SalesforceValidationError,
)

__all__ = ["decode_json", "error_from_body", "error_from_response"]

_QUERY_ERRORS: Final = frozenset(
    {"MALFORMED_QUERY", "INVALID_FIELD", "INVALID_TYPE", "INVALID_QUERY_FILTER_OPERATOR", "INVALID_QUERY_LOCATOR"}
)

#: A write's values were refused: the caller's data is at fault, not our query or session.
_VALUE_ERRORS: Final = frozenset(
    {
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "INVALID_EMAIL_ADDRESS",
        "REQUIRED_FIELD_MISSING",
        "STRING_TOO_LONG",
        "FIELD_INTEGRITY_EXCEPTION",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "DUPLICATE_VALUE",
        "NUMBER_OUTSIDE_VALID_RANGE",
    }
)


# Salesforce writes currency as JSON numbers: decode them as Decimal (from their digits), never float.
_decoder: Final = msgspec.json.Decoder(float_hook=Decimal)


def decode_json(response: httpx.Response) -> Any:
    """The JSON body with numbers as Decimal; SalesforceProtocolError when it is not JSON."""
    if not response.content:
        return None
    try:
        return _decoder.decode(response.content)
    except ValueError:  # msgspec.DecodeError is a ValueError
        raise SalesforceProtocolError(
            f"{response.request.method} {response.request.url.path} answered {response.status_code} "
            f"with malformed JSON: {response.text[:120]!r}"
        ) from None


def error_from_response(response: httpx.Response) -> SalesforceError:
    """The typed error for a non-2xx answer, from Salesforce's error array or OAuth error object."""
    try:
        body = decode_json(response)
    except SalesforceProtocolError:
        body = None  # e.g. an HTML error page from a proxy: the status still says what happened
    error = error_from_body(response.status_code, body, response.reason_phrase)
    error.retry_after = retry_after(response.headers.get("retry-after"))
    return error


def error_from_body(status: int, body: Any, reason: str | None = None) -> SalesforceError:
    """The typed error for a non-2xx `status` with its decoded `body` (also a composite subrequest's)."""
    first = body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else {}
    if isinstance(body, dict) and "error" in body:
        # The token endpoint's OAuth shape: {"error": "invalid_grant", "error_description": "..."}.
        first = {"errorCode": body["error"], "message": body.get("error_description", "")}
    code = str(first.get("errorCode", f"HTTP_{status}"))
    message = str(first.get("message", reason if reason is not None else httpx.codes.get_reason_phrase(status)))
    fields = first.get("fields") or []
    if status == 404 or code == "NOT_FOUND":
        return SalesforceNotFound(status, code, message, fields)
    if status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
        return SalesforceLimitExceeded(status, code, message, fields)
    if status == 401 or (status == 400 and code.islower()):
        # 401 on a REST call, or an OAuth error (lower-case codes) from the token endpoint.
        return SalesforceAuthError(status, code, message, fields)
    if status == 503:
        return SalesforceUnavailable(status, code, message, fields)
    if status == 400 and code in _VALUE_ERRORS:
        return SalesforceValidationError(status, code, message, fields)
    if code in _QUERY_ERRORS:
        return SalesforceQueryError(status, code, message, fields)
    return SalesforceError(status, code, message, fields)
