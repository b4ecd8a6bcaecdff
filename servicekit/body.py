"""Strict request bodies: `"100"` is not an int, unknown fields are refused, malformed JSON is 400."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec
from litestar.dto import MsgspecDTO

from contracts import ProblemFieldError
from servicekit.errors import BadRequest

__all__ = ["StrictBody"]

T = TypeVar("T", bound=msgspec.Struct)


class StrictBody(MsgspecDTO[T], Generic[T]):
    """Use as `dto=StrictBody[Command], return_dto=None` on a handler taking `data: Command`.

    Litestar 2.x decodes bodies with `strict=False` and has no setting against it; this DTO keeps
    the generated OpenAPI schema but decodes the raw bytes strictly itself.
    """

    def decode_bytes(self, value: bytes) -> Any:
        try:
            return msgspec.json.decode(value, type=self.model_type, strict=True)
        except msgspec.ValidationError as exc:
            message, _, where = str(exc).partition(" - at ")
            raise BadRequest(
                f"The request body does not match the contract: {exc}",
                slug="invalid-request",
                title="Invalid request",
                errors=[ProblemFieldError(location=where.strip("`") or "$", message=message)],
            ) from None
        except msgspec.DecodeError as exc:
            raise BadRequest(
                f"The request body is not valid JSON: {exc}", slug="malformed-json", title="Malformed JSON"
            ) from None
