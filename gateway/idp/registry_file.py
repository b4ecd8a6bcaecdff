"""Reading a registry file (TOML written by people, JSON written by the dev-credential generator).

Both decode strictly into the same msgspec type; a bad file raises `RegistryError` naming the field.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import TypeVar

import msgspec

__all__ = ["RegistryError", "read_registry"]

T = TypeVar("T")


class RegistryError(ValueError):
    """A registry file (clients or users) is unreadable or invalid; the message names the field."""


def read_registry(path: str | None, embedded: str, type_: type[T], what: str) -> tuple[T, str]:
    """Decode `path` (by suffix: `.json`, else TOML) or the embedded file; returns it and its label."""
    where = f"{what} {path or f'gateway/idp/{embedded} (embedded)'}"
    try:
        if path and path.endswith(".json"):
            return msgspec.json.decode(Path(path).read_bytes(), type=type_), where
        text = Path(path).read_text() if path else resources.files("gateway.idp").joinpath(embedded).read_text()
        return msgspec.convert(tomllib.loads(text), type=type_, strict=True), where
    except (OSError, tomllib.TOMLDecodeError, msgspec.DecodeError) as exc:
        raise RegistryError(f"{where}: {exc}") from None
    except msgspec.ValidationError as exc:
        raise RegistryError(f"{where}: {exc}") from None
