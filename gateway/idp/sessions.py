"""What the people flow keeps in Redis: pending sign-ins, authorization codes, refresh tokens.

Every key is named here and has its own hash tag, and each operation touches one key, so several
IdP processes share the state and it works on Redis Cluster:

- `fig:idp:login:{<id>}`: a pending sign-in (the validated authorization request and the hash of
  the browser's CSRF cookie), for `login_ttl`.
- `fig:idp:code:{<code>}`: an authorization code, for `code_ttl`; redeemed with GETDEL, so once.
- `fig:idp:refresh:{<family>}`: a refresh-token family (= the sign-in session, the ID token's
  `sid`): the hash of the one current token, hashes of the rotated-out ones, the grant. Using a
  rotated-out token again revokes the family (RFC 9700 4.14.2); logout deletes it.
"""

from __future__ import annotations

import hashlib
import secrets

import msgspec

from servicekit.redis import RedisClient

__all__ = ["AuthRequest", "CodeGrant", "PersonGrant", "SessionStore"]

LOGIN_PREFIX = "fig:idp:login:"
CODE_PREFIX = "fig:idp:code:"
REFRESH_PREFIX = "fig:idp:refresh:"

# Rotate a refresh token: the current one is exchanged for the next; a rotated-out one revokes.
_ROTATE = """
local current = redis.call('HGET', KEYS[1], 'current')
if not current then return {0, false} end
if redis.call('HEXISTS', KEYS[1], 'old:' .. ARGV[1]) == 1 then
  redis.call('DEL', KEYS[1])
  return {-1, false}
end
if current ~= ARGV[1] then return {0, false} end
redis.call('HSET', KEYS[1], 'current', ARGV[2], 'old:' .. ARGV[1], '1')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, redis.call('HGET', KEYS[1], 'grant')}
"""


class AuthRequest(msgspec.Struct, kw_only=True, frozen=True):
    """A validated authorization request waiting for the person to sign in."""

    client_id: str
    redirect_uri: str
    scope: list[str]
    state: str | None
    nonce: str | None
    code_challenge: str
    csrf_hash: str


class PersonGrant(msgspec.Struct, kw_only=True, frozen=True):
    """What a person granted a client: who, to whom, which scopes, when they signed in."""

    username: str
    client_id: str
    scope: list[str]
    auth_time: int


class CodeGrant(msgspec.Struct, kw_only=True, frozen=True):
    grant: PersonGrant
    redirect_uri: str
    code_challenge: str
    nonce: str | None


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _valid_id(value: str) -> bool:
    return 16 <= len(value) <= 128 and all(c.isalnum() or c in "-_" for c in value)


class SessionStore:
    def __init__(self, redis: RedisClient, *, login_ttl: int, code_ttl: int, refresh_ttl: int) -> None:
        self.redis = redis
        self.login_ttl = login_ttl
        self.code_ttl = code_ttl
        self.refresh_ttl = refresh_ttl
        self._rotate = redis.register_script(_ROTATE)

    async def begin_login(self, request: AuthRequest) -> str:
        login_id = secrets.token_urlsafe(24)
        await self.redis.set(f"{LOGIN_PREFIX}{{{login_id}}}", msgspec.json.encode(request), ex=self.login_ttl)
        return login_id

    async def pending_login(self, login_id: str) -> AuthRequest | None:
        if not _valid_id(login_id):
            return None
        raw = await self.redis.get(f"{LOGIN_PREFIX}{{{login_id}}}")
        return msgspec.json.decode(raw, type=AuthRequest) if raw else None

    async def end_login(self, login_id: str) -> bool:
        """Consume a pending sign-in; False if another request already did (a double submit)."""
        return bool(await self.redis.delete(f"{LOGIN_PREFIX}{{{login_id}}}"))

    async def issue_code(self, code: CodeGrant) -> str:
        value = secrets.token_urlsafe(32)
        await self.redis.set(f"{CODE_PREFIX}{{{value}}}", msgspec.json.encode(code), ex=self.code_ttl)
        return value

    async def redeem_code(self, value: str) -> CodeGrant | None:
        """The code's grant, once: the first redemption deletes it."""
        if not _valid_id(value):
            return None
        raw = await self.redis.getdel(f"{CODE_PREFIX}{{{value}}}")
        return msgspec.json.decode(raw, type=CodeGrant) if raw else None

    async def start_family(self, grant: PersonGrant) -> tuple[str, str]:
        """A new refresh-token family for `grant`: (family id = session id, first refresh token)."""
        family, secret = secrets.token_urlsafe(16), secrets.token_urlsafe(32)
        key = f"{REFRESH_PREFIX}{{{family}}}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"current": _digest(secret), "grant": msgspec.json.encode(grant)})
            pipe.expire(key, self.refresh_ttl)
            await pipe.execute()
        return family, f"{family}.{secret}"

    async def rotate(self, token: str) -> tuple[str, PersonGrant, str] | None:
        """Exchange a refresh token for its successor: (family, grant, new token), or None if refused."""
        family, _, secret = token.partition(".")
        if not _valid_id(family) or not _valid_id(secret):
            return None
        following = secrets.token_urlsafe(32)
        status, raw = await self._rotate(
            keys=[f"{REFRESH_PREFIX}{{{family}}}"],
            args=[_digest(secret), _digest(following), self.refresh_ttl * 1000],
        )
        if int(status) != 1 or not raw:
            return None
        return family, msgspec.json.decode(raw, type=PersonGrant), f"{family}.{following}"

    async def granted(self, token: str) -> PersonGrant | None:
        """The grant of a refresh token's family, without rotating it (to check a narrowed scope first)."""
        family = token.partition(".")[0]
        if not _valid_id(family):
            return None
        raw = await self.redis.hget(f"{REFRESH_PREFIX}{{{family}}}", "grant")
        return msgspec.json.decode(raw, type=PersonGrant) if raw else None

    async def end_session(self, family: str) -> None:
        if _valid_id(family):
            await self.redis.delete(f"{REFRESH_PREFIX}{{{family}}}")

    @staticmethod
    def csrf_hash(value: str) -> str:
        return _digest(value)
