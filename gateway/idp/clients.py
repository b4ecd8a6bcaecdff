"""The client registry: which clients exist, their hashed secrets, scopes and legal entities.

Loaded once at start-up from `FIG_CLIENTS_PATH` (TOML, or the JSON `fig up` generates) and decoded
strictly; a bad file stops the IdP with a message naming the field. The embedded `clients.toml` is
a template without secrets: it names the dev clients, and `gateway.idp.devcredentials` fills in
freshly generated secrets on a developer's first local run. Loaded as it is, it stops start-up,
so no deployable place has a default secret.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from gateway.idp.hashing import check_hash_format
from gateway.idp.registry_file import RegistryError, read_registry

__all__ = ["ClientRecord", "ClientRegistry", "ClientRegistryFile", "RegistryError", "load_registry"]

_Scope = Annotated[str, msgspec.Meta(pattern=r"^[\x21\x23-\x5b\x5d-\x7e]+$")]  # RFC 6749 scope-token
_ClientId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._~-]{1,64}$")]
_Entity = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}[0-9]{2}$")]


class ClientRecord(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One registered client. `secret_hash` is from `gateway.idp.hashing.hash_secret`.

    A `public` client (a browser console) has no secret: it may only use the authorization code
    grant with PKCE, at one of its exact `redirect_uris`. A confidential client needs its secret.
    """

    client_id: _ClientId
    secret_hash: str | None = None
    public: bool = False
    scopes: list[_Scope] = msgspec.field(default_factory=list)
    legal_entities: list[_Entity] = msgspec.field(default_factory=list)
    #: Audiences this client may exchange a consumer's token for (RFC 8693); empty: no exchange.
    token_exchange_audiences: list[_ClientId] = msgspec.field(default_factory=list)
    redirect_uris: list[str] = msgspec.field(default_factory=list)
    post_logout_redirect_uris: list[str] = msgspec.field(default_factory=list)
    description: str = ""


class ClientRegistryFile(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A registry file as written: TOML by people, JSON by `gateway.idp.devcredentials`."""

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


def load_registry(path: str | None = None, *, template: bool = False) -> ClientRegistry:
    """Read and check a registry file, or the embedded template when `path` is None.

    Every confidential client needs a `secret_hash` unless `template` (the credential generator
    reading the embedded file): the message then names `FIG_CLIENTS_PATH`.
    """
    parsed, where = read_registry(path, "clients.toml", ClientRegistryFile, "client registry")
    seen: set[str] = set()
    for index, client in enumerate(parsed.clients):
        if client.client_id in seen:
            raise RegistryError(
                f"{where}: duplicate client_id {client.client_id!r} - at `$.clients[{index}].client_id`"
            )
        seen.add(client.client_id)
        at = f"$.clients[{index}]"
        if client.public:
            if client.secret_hash is not None:
                raise RegistryError(f"{where}: a public client has no secret - at `{at}.secret_hash`")
            if not client.redirect_uris:
                raise RegistryError(f"{where}: a public client needs its redirect_uris - at `{at}.redirect_uris`")
        elif client.secret_hash is None:
            if template:
                continue
            raise RegistryError(
                f"{where}: client {client.client_id!r} has no secret_hash - at `{at}.secret_hash`. Set "
                "FIG_CLIENTS_PATH to a registry with hashed secrets (`fig up` generates the dev one under var/)"
            )
        else:
            try:
                check_hash_format(client.secret_hash)
            except ValueError as exc:
                raise RegistryError(f"{where}: {exc} - at `{at}.secret_hash`") from None
    return ClientRegistry(parsed.clients)
