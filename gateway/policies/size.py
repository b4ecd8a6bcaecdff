"""Size and shape: header block and body size (431/413), body media type (415).

Runs first, before anything is spent on a request: the header block is measured, a declared
`Content-Length` over the limit is refused without reading a byte (a chunked body is held to the
same limit while it is read), and a body must come with a media type the operation documents.
Hop-by-hop headers are dealt with by the forwarding allow-lists (`gateway.headers`): nothing the
caller sends crosses unless it is listed.
"""

from __future__ import annotations

from gateway.errors import HeadersTooLarge, PayloadTooLarge, UnsupportedMediaType
from gateway.exchange import Exchange
from servicekit import BadRequest

__all__ = ["BodySizePolicy", "ShapePolicy"]


class ShapePolicy:
    """431 over `max_header_bytes`, 413 over `max_body_bytes`, 415 for an undocumented Content-Type."""

    before_routing = True

    def __init__(self, max_body_bytes: int, max_header_bytes: int = 16_384) -> None:
        self.limit = max_body_bytes
        self.max_header_bytes = max_header_bytes

    async def apply(self, exchange: Exchange) -> None:
        size = 0
        declared = content_type = None
        for name, value in exchange.headers:
            size += len(name) + len(value) + 4
            if name == b"content-length":
                declared = value
            elif name == b"content-type":
                content_type = value
        if size > self.max_header_bytes:
            raise HeadersTooLarge(self.max_header_bytes)
        if declared is not None:
            if not declared.isdigit():
                raise BadRequest("The Content-Length header is not a number.", slug="bad-content-length")
            if int(declared) > self.limit:
                raise PayloadTooLarge(self.limit)
        operation = exchange.operation
        has_body = (declared is not None and declared != b"0") or exchange.header(b"transfer-encoding") is not None
        if operation is None or not has_body or not operation.bodies:
            return
        media = (content_type or b"").split(b";", 1)[0].strip().lower().decode("latin-1")
        if media not in operation.bodies:
            accepted = ", ".join(sorted(operation.bodies))
            raise UnsupportedMediaType(
                f"{operation.operation_id} accepts {accepted}, not {media or 'a body without Content-Type'}.",
                extensions={"accepted": sorted(operation.bodies)},
            )


#: The phase-1 name of the policy.
BodySizePolicy = ShapePolicy
