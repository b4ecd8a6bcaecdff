"""Strict request bodies: `"100"` is not an int, unknown fields are refused, malformed JSON is 400."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec
from litestar.dto import MsgspecDTO
from litestar.typing import FieldDefinition

from contracts import ProblemFieldError
from contracts.money import DECIMAL_PATTERN
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
        loose = list(_loose_decimals(msgspec.json.decode(value), _type_info(self.model_type)))
        if loose:
            raise BadRequest(
                'Decimals (money amounts, quantities, rates) must be decimal strings such as "1234.50", '
                "never JSON numbers.",
                slug="invalid-request",
                title="Invalid request",
                errors=[ProblemFieldError(location=p, message="Expected a decimal string") for p in loose],
            )
        return decoded


_DECIMAL = re.compile(DECIMAL_PATTERN)


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@functools.cache
def _type_info(model: type[msgspec.Struct]) -> msgspec.inspect.Type:
    return msgspec.inspect.type_info(model)


def _loose_decimals(node: Any, kind: msgspec.inspect.Type, path: str = "$") -> Iterator[str]:
    """Paths of decimal fields whose value is not a decimal string, found by walking the body beside its type.

    msgspec decodes a JSON number into a Decimal exactly even with `strict=True`, and takes text
    such as `" 1"` or `"1_000"` that `Decimal()` takes; the wire convention (DESIGN.md section 6)
    and the published `pattern` of every decimal demand a plain decimal string, so a client cannot
    learn to send floats and the document refuses exactly what the service refuses.
    """
    if isinstance(kind, msgspec.inspect.Metadata):
        pattern = (kind.extra_json_schema or {}).get("pattern")
        if pattern and isinstance(kind.type, msgspec.inspect.DecimalType):
            # A decimal with a published pattern of its own (e.g. a positive quantity): that one.
            if not isinstance(node, str) or not _compiled(pattern).fullmatch(node):
                yield path
        else:
            yield from _loose_decimals(node, kind.type, path)
    elif isinstance(kind, msgspec.inspect.DecimalType):
        if not isinstance(node, str) or not _DECIMAL.fullmatch(node):
            yield path
    elif isinstance(kind, msgspec.inspect.UnionType):
        if node is not None:
            for member in kind.types:
                if not isinstance(member, msgspec.inspect.NoneType):
                    yield from _loose_decimals(node, member, path)
    elif isinstance(kind, msgspec.inspect.StructType) and isinstance(node, dict):
        for field in kind.fields:
            if field.encode_name in node:
                yield from _loose_decimals(node[field.encode_name], field.type, f"{path}.{field.encode_name}")
    elif isinstance(kind, msgspec.inspect.ListType | msgspec.inspect.VarTupleType) and isinstance(node, list):
        for index, child in enumerate(node):
            yield from _loose_decimals(child, kind.item_type, f"{path}[{index}]")
    elif isinstance(kind, msgspec.inspect.DictType) and isinstance(node, dict):
        for key, child in node.items():
            yield from _loose_decimals(child, kind.value_type, f"{path}.{key}")
