"""Strict request bodies: `"100"` is not an int, unknown fields are refused, malformed JSON is 400."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec
from litestar.dto import MsgspecDTO
from litestar.typing import FieldDefinition

from contracts import ProblemFieldError
from contracts.money import AMOUNT_PATTERN
from servicekit.errors import BadRequest

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Reference, Schema

__all__ = ["StrictBody"]

T = TypeVar("T", bound=msgspec.Struct)


class StrictBody(MsgspecDTO[T], Generic[T]):
    """Use as `dto=StrictBody[Command], return_dto=None` on a handler taking `data: Command`.

    Litestar 2.x decodes bodies with `strict=False` and has no setting against it; this DTO decodes
    the raw bytes strictly itself. Its OpenAPI schema is the contract model itself, not a generated
    transfer struct: clearer component names, and Litestar 2.25 builds transfer structs wrongly for
    optional constrained fields in nested structs (the app would not start).
    """

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: SchemaCreator
    ) -> Reference | Schema:
        return schema_creator.for_field_definition(FieldDefinition.from_annotation(cls.model_type))

    def decode_bytes(self, value: bytes) -> Any:
        try:
            decoded = msgspec.json.decode(value, type=self.model_type, strict=True)
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
        loose = list(_loose_amounts(msgspec.json.decode(value)))
        if loose:
            raise BadRequest(
                'Money amounts must be decimal strings such as "1234.50", never JSON numbers.',
                slug="invalid-request",
                title="Invalid request",
                errors=[ProblemFieldError(location=p, message="Expected a decimal string") for p in loose],
            )
        return decoded


_AMOUNT = re.compile(AMOUNT_PATTERN)


def _loose_amounts(node: Any, path: str = "$") -> Iterator[str]:
    """Paths of money objects (`{"amount", "currency"}`) whose amount is not a decimal string.

    msgspec decodes a JSON number into a Decimal exactly even with `strict=True`, and takes text
    such as `" 1"` or `"1_000"` that `Decimal()` takes; the wire convention (DESIGN.md section 6)
    and the published `pattern` of the amount demand a plain decimal string, so a client cannot
    learn to send floats and the document refuses exactly what the service refuses.
    """
    if isinstance(node, dict):
        if "amount" in node and "currency" in node:
            amount = node["amount"]
            if isinstance(amount, int | float) or (isinstance(amount, str) and not _AMOUNT.fullmatch(amount)):
                yield f"{path}.amount"
        for key, child in node.items():
            yield from _loose_amounts(child, f"{path}.{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _loose_amounts(child, f"{path}[{index}]")
