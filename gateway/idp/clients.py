"""The client registry: which clients exist, their hashed secrets, scopes and legal entities.

Loaded once at start-up from TOML (`FIG_CLIENTS_PATH`, else the embedded `clients.toml`) and decoded
strictly; a bad file stops the IdP with a message naming the field.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated

import msgspec

from gateway.idp.hashing import check_hash_format

__all__ = ["ClientRecord", "ClientRegistry", "RegistryError", "load_registry"]

_Scope = Annotated[str, msgspec.Meta(pattern=r"^[\x21\x23-\x5b\x5d-\x7e]+$")]  # RFC 6749 scope-token
_ClientId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._~-]{1,64}$")]
_Entity = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}[0-9]{2}$")]


class RegistryError(ValueError):
    """The client registry file is unreadable or invalid; the message names the field."""


class ClientRecord(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One registered client. `secret_hash` is from `gateway.idp.hashing.hash_secret`."""

    client_id: _ClientId
    secret_hash: str
    scopes: list[_Scope]
    legal_entities: list[_Entity] = msgspec.field(default_factory=list)
    #: Audiences this client may exchange a consumer's token for (RFC 8693); empty: no exchange.
    token_exchange_audiences: list[_ClientId] = msgspec.field(default_factory=list)
    description: str = ""


class _RegistryFile(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    clients: list[ClientRecord]


class ClientRegistry:
    """Clients by id."""

    def __init__(self, clients: list[ClientRecord]) -> None:
        self._clients = {c.client_id: c for c in clients}

    def get(self, client_id: str) -> ClientRecord | None:
        return self._clients.get(client_id)

    def all_scopes(self) -> list[str]:
        return sorted({s for c in self._clients.values() for s in c.scopes})

    def __len__(self) -> int:
        return len(self._clients)


def load_registry(path: str | None = None) -> ClientRegistry:
    """Read and check a registry file, or the embedded dev registry when `path` is None."""
    where = path or "gateway/idp/clients.toml (embedded)"
    try:
        text = Path(path).read_text() if path else resources.files("gateway.idp").joinpath("clients.toml").read_text()
        data = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RegistryError(f"client registry {where}: {exc}") from None
    try:
        parsed = msgspec.convert(data, type=_RegistryFile, strict=True)
    except msgspec.ValidationError as exc:
        raise RegistryError(f"client registry {where}: {exc}") from None
    seen: set[str] = set()
    for index, client in enumerate(parsed.clients):
        if client.client_id in seen:
            raise RegistryError(
                f"client registry {where}: duplicate client_id {client.client_id!r} - at `$.clients[{index}].client_id`"
            )
        seen.add(client.client_id)
        try:
            check_hash_format(client.secret_hash)
        except ValueError as exc:
            raise RegistryError(f"client registry {where}: {exc} - at `$.clients[{index}].secret_hash`") from None
    return ClientRegistry(parsed.clients)
