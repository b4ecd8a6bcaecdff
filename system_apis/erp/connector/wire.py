"""NetSuite's wire format: JSON bodies with Decimal numbers, the error envelope, `Location` ids."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import msgspec

from servicekit.resilience import FAILURE_STATUSES, retry_after
from system_apis.erp.connector.mapping import canonical_field
from system_apis.erp.errors import (
    ErpAuthError,
    ErpError,
    ErpInvalidContent,
    ErpNotFound,
    ErpThrottled,
    ErpUnavailable,
    ErpUpstreamError,
)

__all__ = ["decode_body", "id_from_location", "same_value", "vendor_error"]

# Untyped JSON like `json.loads(..., parse_float=Decimal)`, at a fraction of its cost per record read.
_decoder = msgspec.json.Decoder(float_hook=Decimal)


def decode_body(response: httpx.Response) -> Any:
    """JSON with numbers as Decimal (never float); an unreadable body is an upstream error."""
    try:
        return _decoder.decode(response.content)
    except msgspec.DecodeError:
        raise ErpUpstreamError(
            f"NetSuite answered {response.status_code} with a body that is not JSON.", status=response.status_code
        ) from None


def vendor_error(response: httpx.Response, record: str) -> ErpError:
    status = response.status_code
    detail, code, path = f"NetSuite answered {status}.", None, None
    try:
        details = json.loads(response.content).get("o:errorDetails") or []
        first = details[0] if details else {}
        detail = str(first.get("detail") or detail)
        code = first.get("o:errorCode")
        path = first.get("o:errorPath")
    except (ValueError, AttributeError, TypeError):
        pass
    kwargs: dict[str, Any] = {"status": status, "code": code, "path": path, "field": canonical_field(path, record)}
    told = retry_after(response.headers.get("retry-after"))
    if status in (401, 403):
        return ErpAuthError(f"NetSuite refused our credentials ({status}): {detail}", **kwargs)
    if status == 404:
        return ErpNotFound(detail, **kwargs)
    if status == 400:
        return ErpInvalidContent(detail, **kwargs)
    if status == 429:
        return ErpThrottled(detail, retry_after=told, **kwargs)
    if status in FAILURE_STATUSES:
        # NetSuite (or what is in front of it) is down or overloaded: unavailable, not a wrong answer.
        return ErpUnavailable(f"NetSuite unavailable ({status}): {detail}", retry_after=told, **kwargs)
    return ErpUpstreamError(f"NetSuite error {status}: {detail}", **kwargs)


def same_value(stored: Any, wanted: Any) -> bool:
    """Whether a record field already holds the value a PATCH would write (references by id)."""
    if isinstance(wanted, dict):
        return isinstance(stored, dict) and str(stored.get("id")) == str(wanted.get("id"))
    if isinstance(wanted, Decimal):
        return stored is not None and not isinstance(stored, bool) and Decimal(str(stored)) == wanted
    return bool(stored == wanted)


def id_from_location(response: httpx.Response) -> str:
    record_id = str(response.headers.get("location", "")).rstrip("/").rsplit("/", 1)[-1]
    if not record_id.isdigit():
        raise ErpUpstreamError("NetSuite's write answer has no record id in its Location header.")
    return record_id
