"""Dev credentials generated on a developer's first local run, never committed.

`ensure_dev_credentials(directory)` creates, once, a random secret for every confidential client of
the embedded registry template, a password for every person of the embedded users template and an
admin token, in `credentials.json` (owner-only). Next to it, it writes the hashed registries the
IdP loads (`clients.json`, `users.json`): the launcher hands their paths and the secrets to the
processes through the environment. Later runs reuse the same credentials (a client or person added
to a template gets theirs on the next run), so tokens and demo logins stay stable on one machine.
Tests call it with their own temporary directory. `origins` moves a client's registered redirect
addresses to where the stack serves it (the console on the stack's own port).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import msgspec

from gateway.idp.clients import ClientRegistryFile, load_registry
from gateway.idp.hashing import hash_password, hash_secret
from gateway.idp.registry_file import read_registry
from gateway.idp.users import UsersFile, load_users

__all__ = ["DevCredentials", "ensure_dev_credentials"]

_CREDENTIALS, _CLIENTS, _USERS = "credentials.json", "clients.json", "users.json"


class DevCredentials(msgspec.Struct, kw_only=True, frozen=True):
    """The generated secrets of one developer's local stack, and where the hashed registries are."""

    client_secrets: dict[str, str]
    passwords: dict[str, str]
    admin_token: str
    clients_path: str = ""
    users_path: str = ""

    def client_secret(self, client_id: str) -> str:
        try:
            return self.client_secrets[client_id]
        except KeyError:
            raise KeyError(f"no generated secret for client {client_id!r}") from None


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _moved(uris: list[str], origin: str) -> list[str]:
    """`uris` with scheme and host:port replaced by those of `origin` (paths kept)."""
    target = urlsplit(origin)
    return [urlunsplit((target.scheme, target.netloc, *urlsplit(uri)[2:])) for uri in uris]


def _at_origins(registry: ClientRegistryFile, origins: Mapping[str, str]) -> ClientRegistryFile:
    return ClientRegistryFile(
        clients=[
            msgspec.structs.replace(
                c,
                redirect_uris=_moved(c.redirect_uris, origins[c.client_id]),
                post_logout_redirect_uris=_moved(c.post_logout_redirect_uris, origins[c.client_id]),
            )
            if c.client_id in origins
            else c
            for c in registry.clients
        ]
    )


def _redirects(registry: ClientRegistryFile) -> dict[str, tuple[list[str], list[str]]]:
    return {c.client_id: (c.redirect_uris, c.post_logout_redirect_uris) for c in registry.clients}


def ensure_dev_credentials(directory: Path, origins: Mapping[str, str] | None = None) -> DevCredentials:
    """The local stack's credentials in `directory`: generated on first use, reused afterwards.

    `origins` (client id -> `http://host:port`) registers those clients' redirect addresses at that
    origin instead of the template's, rewriting the registry when they moved since the last run.
    """
    directory.mkdir(parents=True, exist_ok=True)
    stored = directory / _CREDENTIALS
    load_registry(None, template=True), load_users(None, template=True)  # the templates are valid
    template_clients, _ = read_registry(None, "clients.toml", ClientRegistryFile, "client registry")
    template_clients = _at_origins(template_clients, origins or {})
    template_users, _ = read_registry(None, "users.toml", UsersFile, "user directory")
    client_ids = [c.client_id for c in template_clients.clients if not c.public]
    usernames = [u.username for u in template_users.users]
    old = msgspec.json.decode(stored.read_bytes(), type=DevCredentials) if stored.exists() else None
    old_secrets, old_passwords = (old.client_secrets, old.passwords) if old else ({}, {})
    creds = DevCredentials(
        client_secrets={c: old_secrets.get(c) or secrets.token_urlsafe(32) for c in client_ids},
        passwords={u: old_passwords.get(u) or secrets.token_urlsafe(12) for u in usernames},
        admin_token=old.admin_token if old else secrets.token_urlsafe(32),
        clients_path=str(directory / _CLIENTS),
        users_path=str(directory / _USERS),
    )
    written = directory / _CLIENTS
    moved = written.exists() and _redirects(
        msgspec.json.decode(written.read_bytes(), type=ClientRegistryFile)
    ) != _redirects(template_clients)
    if moved or creds != old or not written.exists() or not (directory / _USERS).exists():
        filled_clients = ClientRegistryFile(
            clients=[
                msgspec.structs.replace(c, secret_hash=hash_secret(creds.client_secrets[c.client_id]))
                if not c.public
                else c
                for c in template_clients.clients
            ]
        )
        filled_users = UsersFile(
            roles=template_users.roles,
            users=[
                msgspec.structs.replace(u, password_hash=hash_password(creds.passwords[u.username]))
                for u in template_users.users
            ],
        )
        _write_private(directory / _CLIENTS, msgspec.json.encode(filled_clients))
        _write_private(directory / _USERS, msgspec.json.encode(filled_users))
        _write_private(stored, msgspec.json.format(msgspec.json.encode(creds)))
    return creds
