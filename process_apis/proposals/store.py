"""Proposals in Redis.

    fig:proposals:{<id>}       the proposal (JSON Proposal)
    fig:proposals:index        sorted set of proposal ids by creation time (list order)

A decision changes a proposal only from `pending`, in one script that compares the stored status,
so of two approvers at once exactly one decides and the other is told it was decided already.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import msgspec

from process_apis.proposals.model import Proposal, ProposalPage

__all__ = ["PROPOSAL_INDEX", "ProposalStore", "proposal_key"]

PROPOSAL_INDEX = "fig:proposals:index"
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Proposal)
_BATCH = 200

#: KEYS proposal key; ARGV expected status, new JSON. 1 when replaced, 0 when the status differed.
_DECIDE = """
local raw = redis.call('GET', KEYS[1])
if not raw then return -1 end
if cjson.decode(raw)['status'] ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""


def proposal_key(proposal_id: str) -> str:
    return f"fig:proposals:{{{proposal_id}}}"


def new_proposal_id() -> str:
    return f"prop-{uuid.uuid4().hex[:16]}"


class ProposalStore:
    """Adds, reads, lists and decides proposals."""

    def __init__(self, redis: Any) -> None:
        self.redis: Any = redis
        self._decide = redis.register_script(_DECIDE)

    async def add(self, proposal: Proposal) -> None:
        await self.redis.set(proposal_key(proposal.id), _encoder.encode(proposal))
        await self.redis.zadd(PROPOSAL_INDEX, {proposal.id: proposal.proposed_at.timestamp()})

    async def get(self, proposal_id: str) -> Proposal | None:
        if not proposal_id.startswith("prop-"):
            return None
        raw = await self.redis.get(proposal_key(proposal_id))
        return _decoder.decode(raw) if raw is not None else None

    async def decide(self, proposal: Proposal, decided: Proposal) -> bool:
        """Store `decided` if `proposal` is still in its stored status; False when another decision came first."""
        done = await self._decide(keys=[proposal_key(proposal.id)], args=[proposal.status, _encoder.encode(decided)])
        return int(done) == 1

    async def page(self, keep: Any, *, limit: int, cursor: str | None = None) -> ProposalPage:
        """Up to `limit` proposals `keep` accepts, newest first, after `cursor`; ValueError for a foreign cursor."""
        position = _decode_cursor(cursor) if cursor else 0
        found: list[Proposal] = []
        while True:
            ids = await self.redis.zrevrange(PROPOSAL_INDEX, position, position + _BATCH - 1)
            if not ids:
                return ProposalPage(items=found)
            # One GET per proposal in a pipeline, not MGET: each proposal has its own cluster slot.
            pipe = self.redis.pipeline(transaction=False)
            for member in ids:
                pipe.get(proposal_key(member.decode() if isinstance(member, bytes) else str(member)))
            raws = await pipe.execute()
            for offset, raw in enumerate(raws):
                if raw is None:
                    continue
                proposal = _decoder.decode(raw)
                if keep(proposal):
                    found.append(proposal)
                    if len(found) == limit:
                        return ProposalPage(items=found, next_cursor=_encode_cursor(position + offset + 1))
            position += len(ids)


def _encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(str(position).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        position = int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (ValueError, UnicodeDecodeError):
        raise ValueError("cursor is not one this API issued") from None
    if position < 0:
        raise ValueError("cursor is not one this API issued")
    return position
