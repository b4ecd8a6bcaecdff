"""ERP customers quote-to-cash resolved lately, so a deal of a known customer skips the ERP upsert.

Every deal resolves its account's ERP customer (`PUT /v1/customers/SF-<account>`): several deals
share an account, and the upsert of an existing customer that already holds the values is a read
that changes nothing. So after a successful upsert the customer's id is kept in Redis
(`fig:q2c:customer:{SF-<account>}`) with a fingerprint of the values sent, for at most `ttl`
seconds. A first attempt of a later deal whose upsert would send the same values reuses that id;
any `erp.customer.changed.v1` event for the customer drops the entry (the ERP side moved), and a
retry always upserts. If the customer was removed or merged in the ERP meanwhile, the order step
is refused by the ERP, the run parks, and its retry upserts again.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from contracts import CustomerUpsert

__all__ = ["ResolvedCustomers"]

_encoder = msgspec.json.Encoder()


def _fingerprint(command: CustomerUpsert) -> bytes:
    return hashlib.sha256(_encoder.encode(command)).hexdigest()[:32].encode()


class ResolvedCustomers:
    """External id -> ERP customer id, as last resolved with which values, kept `ttl` seconds."""

    def __init__(self, redis: Any, *, ttl: float) -> None:
        self.redis: Any = redis
        self.ttl_ms = max(1, int(ttl * 1000))

    @staticmethod
    def key(external_id: str) -> str:
        return f"fig:q2c:customer:{{{external_id}}}"

    async def get(self, external_id: str, command: CustomerUpsert) -> str | None:
        """The customer id resolved with the same values as `command`, or None."""
        held = await self.redis.hmget(self.key(external_id), "fp", "id")
        if held[0] != _fingerprint(command) or held[1] is None:
            return None
        return bytes(held[1]).decode()

    def queue_remember(self, pipe: Any, external_id: str, command: CustomerUpsert, customer_id: str) -> None:
        """Keep `customer_id` for `external_id` as resolved with `command`'s values (commands on the
        caller's pipeline: one round trip with the run's other writes)."""
        key = self.key(external_id)
        pipe.hset(key, mapping={"fp": _fingerprint(command), "id": customer_id})
        pipe.pexpire(key, self.ttl_ms)

    async def forget(self, external_id: str) -> None:
        await self.redis.delete(self.key(external_id))
