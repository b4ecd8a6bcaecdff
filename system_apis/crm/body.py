"""A strict body whose OpenAPI schema is the contract model itself.

`servicekit.StrictBody` documents the DTO's generated transfer struct; Litestar 2.25 builds that
struct wrongly for optional constrained fields in nested structs (`CurrencyCode | None` inside
`CustomerMasterChanges` becomes `Annotated[str | None, Meta(pattern=...)]`, which msgspec refuses),
so the app would not even start. Decoding stays servicekit's; only the schema comes from the model.
Should move into servicekit.StrictBody.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

import msgspec
from litestar.typing import FieldDefinition

from servicekit.body import StrictBody

if TYPE_CHECKING:
    # Only for annotations: Litestar passes its (private) schema creator to DTOs.
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Reference, Schema

__all__ = ["StrictModelBody"]

T = TypeVar("T", bound=msgspec.Struct)


class StrictModelBody(StrictBody[T], Generic[T]):
    """`StrictBody` that documents `T` (the contract model) as the request body schema."""

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: SchemaCreator
    ) -> Reference | Schema:
        return schema_creator.for_field_definition(FieldDefinition.from_annotation(cls.model_type))
