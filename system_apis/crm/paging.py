"""Opaque cursors of the opportunity listings.

Two walks, two cursor kinds: changes in (SystemModstamp, Id) order carry the keyset of the last
item; filtered listings in Id order carry the last Id. The API routes a cursor to its own walk
(`is_id_cursor`); each decoder still refuses (400) the other kind rather than silently restarting.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Final

from servicekit.errors import BadRequest
from system_apis.crm.connector.reader import Keyset, is_salesforce_id

__all__ = ["decode_cursor", "decode_id_cursor", "encode_cursor", "encode_id_cursor", "is_id_cursor"]

_ID_KIND: Final = "id"


def _encode(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _invalid(why: str = "is not a cursor this API returned") -> BadRequest:
    return BadRequest(f"`cursor` {why}", slug="invalid-cursor")


def _decode(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _invalid() from None
    head, _, record_id = raw.partition("|")
    if not is_salesforce_id(record_id):
        raise _invalid()
    return head, record_id


def encode_cursor(position: Keyset) -> str:
    """The cursor after `position` in a (SystemModstamp, Id) walk."""
    return _encode(f"{position.modstamp.isoformat()}|{position.record_id}")


def decode_cursor(cursor: str) -> Keyset:
    """The keyset a changes cursor names; BadRequest (400) when it was not one of ours."""
    head, record_id = _decode(cursor)
    if head == _ID_KIND:
        raise _invalid("belongs to a filtered listing (won/close_period/region without changed_since)")
    try:
        modstamp = datetime.fromisoformat(head)
    except ValueError:
        raise _invalid() from None
    if modstamp.tzinfo is None:
        raise _invalid()
    return Keyset(modstamp, record_id)


def encode_id_cursor(record_id: str) -> str:
    """The cursor after `record_id` in an Id-ordered walk."""
    return _encode(f"{_ID_KIND}|{record_id}")


def decode_id_cursor(cursor: str) -> str:
    """The last Id an Id-ordered cursor names; BadRequest (400) otherwise."""
    head, record_id = _decode(cursor)
    if head != _ID_KIND:
        raise _invalid("belongs to a changes listing (changed_since)")
    return record_id


def is_id_cursor(cursor: str) -> bool:
    """Whether `cursor` continues an Id-ordered (filtered) walk rather than a changes walk."""
    try:
        return _decode(cursor)[0] == _ID_KIND
    except BadRequest:
        return False
