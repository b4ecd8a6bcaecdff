"""Strict JWS compact serialization: one token, one valid encoding.

PyJWT decodes leniently: base64url segments with `=` padding or characters outside the alphabet
are accepted (Python's decoder drops them), and ECDSA signatures verify whether `s` is in the low
or the high half of the curve order, so one signed token has several spellings that all verify.
A verifier that caches or audits tokens by their text then sees "new" tokens that are replays.
`check_compact` refuses every spelling but the canonical one (RFC 7515 section 2 and appendix C:
unpadded base64url; for ECDSA, `s <= n/2`); `low_s` turns an issuer's signature into that form.
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = ["CURVE_ORDERS", "MalformedToken", "check_compact", "low_s", "normalize_token"]

#: The ECDSA JWS algorithms and the order `n` of their curve (SEC 2).
CURVE_ORDERS: dict[str, int] = {
    "ES256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "ES384": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973,
}

_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class MalformedToken(ValueError):
    """The token is not in canonical JWS compact form; the message says which part is not."""


def _decode(segment: str, name: str) -> bytes:
    if len(segment) % 4 == 1:
        raise MalformedToken(f"the {name} is not valid base64url (impossible length)")
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise MalformedToken(f"the {name} is not valid base64url") from None
    # Non-zero unused bits in the last character are a second spelling of the same bytes.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != segment:
        raise MalformedToken(f"the {name} is not canonical base64url (non-zero trailing bits)")
    return raw


def check_compact(token: str, alg: object) -> None:
    """Raise MalformedToken unless `token` is three unpadded base64url segments in canonical form,
    and, for an ECDSA `alg`, its signature is `r || s` of the right size with a low `s`."""
    if _COMPACT.fullmatch(token) is None:
        raise MalformedToken(
            "a JWS in compact form is three base64url segments without padding, "
            "separated by dots, with no other characters"
        )
    header, payload, signature = token.split(".")
    _decode(header, "header")
    _decode(payload, "payload")
    raw = _decode(signature, "signature")
    order = CURVE_ORDERS.get(alg) if isinstance(alg, str) else None
    if order is not None:
        size = (order.bit_length() + 7) // 8
        if len(raw) != 2 * size:
            raise MalformedToken(f"an {alg} signature is {2 * size} bytes, this one is {len(raw)}")
        s = int.from_bytes(raw[size:], "big")
        if s > order // 2:
            raise MalformedToken(f"the {alg} signature is not in low-S form (s > n/2)")


def low_s(signature: bytes, alg: str) -> bytes:
    """The same ECDSA signature (`r || s`) with `s` replaced by `n - s` when it is in the high half."""
    order = CURVE_ORDERS[alg]
    size = len(signature) // 2
    s = int.from_bytes(signature[size:], "big")
    if s <= order // 2:
        return signature
    return signature[:size] + (order - s).to_bytes(size, "big")


def normalize_token(token: str, alg: str) -> str:
    """A freshly signed compact JWS in canonical form (low-S for ECDSA); other algorithms unchanged."""
    if alg not in CURVE_ORDERS:
        return token
    head, _, signature = token.rpartition(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    fixed = base64.urlsafe_b64encode(low_s(raw, alg)).rstrip(b"=").decode("ascii")
    return f"{head}.{fixed}"
