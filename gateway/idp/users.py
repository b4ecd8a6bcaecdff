"""The people the dev IdP signs in: their hashed passwords, roles and legal entities.

Loaded once at start-up from `FIG_USERS_PATH` (TOML, or the JSON `fig up` generates). The embedded
`users.toml` is a template without passwords (the dev credential generator fills them in);
without `FIG_USERS_PATH` nobody can sign in (the IdP still serves clients).
Roles map to scopes in the same file, so what a role may do is configuration, not code.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import msgspec

from gateway.idp.hashing import check_hash_format
from gateway.idp.registry_file import RegistryError, read_registry

__all__ = ["RoleRecord", "UserDirectory", "UserRecord", "UsersFile", "load_users"]

_Name = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9._-]{0,63}$")]
_Scope = Annotated[str, msgspec.Meta(pattern=r"^[\x21\x23-\x5b\x5d-\x7e]+$")]
_Entity = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}[0-9]{2}$")]


class RoleRecord(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A role and the API scopes it grants."""

    name: _Name
    scopes: list[_Scope]
    description: str = ""


class UserRecord(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A person: `username` is their stable subject (`sub`); `password_hash` from `hash_password`."""

    username: _Name
    name: str
    email: str = ""
    roles: list[_Name]
    legal_entities: list[_Entity]
    password_hash: str | None = None


class UsersFile(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A users file as written: TOML by people, JSON by `gateway.idp.devcredentials`."""

    roles: list[RoleRecord]
    users: list[UserRecord] = msgspec.field(default_factory=list)


class UserDirectory:
    """People by username, and the scopes their roles grant."""

    def __init__(self, roles: list[RoleRecord], users: list[UserRecord]) -> None:
        self.roles = {r.name: r for r in roles}
        self._users = {u.username: u for u in users}

    def get(self, username: str) -> UserRecord | None:
        return self._users.get(username)

    def scopes_of(self, user: UserRecord) -> frozenset[str]:
        return frozenset(s for role in user.roles for s in self.roles[role].scopes)

    def all_scopes(self) -> list[str]:
        return sorted({s for r in self.roles.values() for s in r.scopes})

    def __iter__(self) -> Iterator[UserRecord]:
        return iter(self._users.values())

    def __len__(self) -> int:
        return len(self._users)


def load_users(path: str | None = None, *, template: bool = False) -> UserDirectory:
    """Read and check a users file (the embedded template when `path` is None).

    Outside `template`, every person needs a `password_hash`; the message names `FIG_USERS_PATH`.
    """
    parsed, where = read_registry(path, "users.toml", UsersFile, "user directory")
    roles = {r.name for r in parsed.roles}
    seen: set[str] = set()
    for index, user in enumerate(parsed.users):
        at = f"$.users[{index}]"
        if user.username in seen:
            raise RegistryError(f"{where}: duplicate username {user.username!r} - at `{at}.username`")
        seen.add(user.username)
        unknown = sorted(set(user.roles) - roles)
        if unknown:
            raise RegistryError(f"{where}: unknown role(s) {', '.join(unknown)} - at `{at}.roles`")
        if user.password_hash is None:
            if template:
                continue
            raise RegistryError(
                f"{where}: {user.username!r} has no password_hash - at `{at}.password_hash`. Set FIG_USERS_PATH "
                "to a directory with hashed passwords (`fig up` generates the dev one under var/)"
            )
        try:
            check_hash_format(user.password_hash)
        except ValueError as exc:
            raise RegistryError(f"{where}: {exc} - at `{at}.password_hash`") from None
    return UserDirectory(list(parsed.roles), list(parsed.users))
