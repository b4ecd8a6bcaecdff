"""CRM accounts as the CRM last described them, so validating a deal does not read the CRM each time.

Quote-to-cash validation needs the deal's account (tax jurisdiction present). Several deals share
an account, and every account change already reaches the process API as a
`crm.account.changed.v1` event carrying the whole canonical account, on the same CRM stream as the
approvals, ahead of an approval that follows it. So the account is kept in Redis
(`fig:crm:account:{<id>}`), written by each change event and by each read of the CRM, newest
`last_modified` winning, for at most `ttl` seconds. A first validation uses it when it is there and
reads the CRM when it is not; a retry always reads the CRM (the fix a person made there is what
the retry is for).

The price is a short window: an account changed in the CRM less than one feed poll before the
approval is read as it was, so that run may park on the old data; its retry reads the CRM.
"""

from __future__ import annotations

from typing import Any

import msgspec

from contracts import Account

__all__ = ["AccountSnapshots"]

# KEYS: the account's hash; ARGV: last_modified (epoch ms), the account JSON, TTL (ms).
# An older description never replaces a newer one (two instances, a read racing an event).
_REMEMBER = """
local held = redis.call('HGET', KEYS[1], 'at')
if held and tonumber(held) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'at', ARGV[1], 'account', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Account)


class AccountSnapshots:
    """The newest known description of each CRM account, kept `ttl` seconds after it was learned."""

    def __init__(self, redis: Any, *, ttl: float) -> None:
        self.redis: Any = redis
        self.ttl_ms = max(1, int(ttl * 1000))
        self._remember = redis.register_script(_REMEMBER)

    @staticmethod
    def key(account_id: str) -> str:
        return f"fig:crm:account:{{{account_id}}}"

    async def get(self, account_id: str) -> Account | None:
        """The account as last learned, or None when it is not known (or expired)."""
        raw = await self.redis.hget(self.key(account_id), "account")
        return _decoder.decode(raw) if raw is not None else None

    async def remember(self, account: Account) -> bool:
        """Keep `account` unless a newer description is held; True when it was kept."""
        at = int(account.last_modified.timestamp() * 1000)
        kept = await self._remember(keys=[self.key(account.id)], args=[at, _encoder.encode(account), self.ttl_ms])
        return bool(kept)
