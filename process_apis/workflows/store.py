"""Quote-to-cash run state in Redis, committed together with the effects each change causes.

Keys of one run share the hash tag `{q2c-<opportunity id>}`, so they live in one Redis Cluster slot:

    fig:q2c:{<run id>}:run       the run (JSON QuoteToCashRun), the source of truth for its state
    fig:q2c:{<run id>}:history   append-only list of every gate passed (JSON Gate)
    fig:q2c:{<run id>}:source    the opportunity snapshot the run was started from
    fig:q2c:{<run id>}:outbox    effects not yet applied outside the run's slot (transactional outbox)
    fig:q2c:{<run id>}:lock      the per-run lease (SET NX PX) a worker holds while advancing it,
                                 renewed while held (workflows/heartbeat.py), so it can be short

Outbox decision: the event streams (`fig:events:finance`, the work queue `fig:q2c:work`) and the
index of runs waiting for booking (`fig:q2c:waiting`) are other slots, so a state change cannot
write them in the same transaction. Instead one Lua script on the run's slot writes the new run,
appends the gates passed to the history and appends the change's effects to the run's outbox, and
only if the caller still holds the run's lease (fencing: a worker whose lease expired cannot
overwrite a newer state). Giving the lease back then applies the outbox in order, popping each
effect once applied, and releases the lease (one pipeline when the outbox holds only what this
lease committed; `relay()` otherwise); a crash between leaves the effect in the outbox, where the
next relay (the worker's next turn on the run, or the periodic sweep) applies it. Effects are
therefore at-least-once: events carry deterministic ids for consumers to dedupe, and work items and
index updates are idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal

import msgspec
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from contracts import Account, CloudEvent, Opportunity
from process_apis.schemas import Gate, QuoteToCashRun
from process_apis.workflows.heartbeat import LeaseHeartbeat
from servicekit import RedisClient, encode_event
from servicekit.streams import EVENT_FIELD

__all__ = [
    "COUNTER_TOTALS",
    "OPS_COUNTERS",
    "WAITING_INDEX",
    "WORK_STREAM",
    "Effect",
    "Lease",
    "LockLost",
    "RunBusy",
    "RunSource",
    "RunStore",
    "counter_key",
    "read_counters",
    "run_id_for",
    "run_key",
]

WORK_STREAM = "fig:q2c:work"
#: The `key` of ops-counter effects, kept as runs and exceptions change; read by `GET /v1/ops/summary`
#: (applied to `counter_key(name)` and `COUNTER_TOTALS`).
OPS_COUNTERS = "fig:ops:counters"
WAITING_INDEX = "fig:q2c:waiting"
_STREAM_MAXLEN = 1_000_000


def run_id_for(opportunity_id: str) -> str:
    """The run id is deterministic: starting the same opportunity twice finds the same run."""
    return f"q2c-{opportunity_id}"


def _key(run_id: str, part: str, prefix: str = "fig:q2c") -> str:
    return f"{prefix}:{{{run_id}}}:{part}"


def run_key(run_id: str) -> str:
    """The key of a quote-to-cash run's JSON (read without the store, e.g. by the ops summary)."""
    return _key(run_id, "run")


class RunBusy(Exception):
    """Another worker holds the run's lease."""


class LockLost(Exception):
    """The lease expired and was taken by another worker before this one committed."""


class RunSource(msgspec.Struct, kw_only=True, frozen=True):
    """What a run was started from: the opportunity as approved, and the trace it belongs to.

    `account`: the opportunity's account as the CRM feed read it with the approval (None for a run
    started through the API, and after a retry from `received`, which reads the CRM again).
    """

    opportunity: Opportunity
    traceparent: str | None = None
    account: Account | None = None
    #: The deal as amended in CRM after its order was booked, waiting for a person's approval
    #: (`amended_after_booking`); `opportunity` stays what the ERP booked until then.
    amended: Opportunity | None = None


class Effect(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """One outbox entry: append an event to a stream, add/remove a member of an index, count.

    `hincrby` adds `by` (else `int(score)`) to counter `member` (ops counters); money amounts are
    counted in `by` as exact integers of minor units, never through the float. It is applied idempotently: the
    commit gives it a unique `id`, and one script records `id -> amount` in the counter's dedup hash
    and adds to the running total only if the id was new, so a relay that applies the same outbox
    entry twice (a crash before the pop, or the sweep and a worker relaying one run at once) counts
    it once; `read_counters` reads the totals.
    """

    kind: Literal["xadd", "zadd", "zrem", "hincrby"]
    key: str
    event: CloudEvent | None = None
    member: str | None = None
    score: float = 0.0
    id: str | None = None
    by: int | None = None


def counter_key(name: str) -> str:
    """The hash of the increments applied to one ops counter (effect id -> amount): the dedup record."""
    return f"fig:ops:{{counters}}:ids:{name}"


#: Every ops counter's running total (name -> total), kept next to the dedup records (same slot).
COUNTER_TOTALS = "fig:ops:{counters}:totals"

#: Apply one increment once: KEYS ids hash, totals hash; ARGV effect id, amount, counter name.
_APPLY_COUNTER = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('HINCRBY', KEYS[2], ARGV[3], ARGV[2])
end
return 0
"""


async def read_counters(redis: RedisClient) -> dict[str, int]:
    """Every ops counter's exact total: one read, however many increments were applied."""
    totals = await redis.hgetall(COUNTER_TOTALS)
    return {(k.decode() if isinstance(k, bytes) else str(k)): int(v) for k, v in sorted(totals.items())}


def _with_ids(effects: Sequence[Effect]) -> list[Effect]:
    """Give each counter effect of one commit a unique id (kept in the outbox, so re-applying is a no-op)."""
    commit = uuid.uuid4().hex
    return [
        msgspec.structs.replace(e, id=f"{commit}:{n}") if e.kind == "hincrby" and e.id is None else e
        for n, e in enumerate(effects)
    ]


_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('GET', KEYS[1]) end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[3])
for i = 4, #ARGV do redis.call('RPUSH', KEYS[4], ARGV[i]) end
return false
"""

# KEYS: lock, history, outbox, then the keys to SET (the run first); ARGV: lease, the number of
# gates g, the number of effects n, the g gates, the n effects, then one value per key to SET.
# Returns the outbox's length after the append (-1: the lease is not held).
_COMMIT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local g = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
for i = 4, #KEYS do redis.call('SET', KEYS[i], ARGV[g + n + i]) end
if g > 0 then redis.call('RPUSH', KEYS[2], unpack(ARGV, 4, g + 3)) end
if n > 0 then redis.call('RPUSH', KEYS[3], unpack(ARGV, g + 4, g + n + 3)) end
return redis.call('LLEN', KEYS[3])
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_POP_APPLIED = """
local popped = 0
for i = 1, #ARGV do
  if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[i] then break end
  redis.call('LPOP', KEYS[1])
  popped = popped + 1
end
return popped
"""

_encoder = msgspec.json.Encoder()
_run_decoder = msgspec.json.Decoder(QuoteToCashRun)
_gate_decoder = msgspec.json.Decoder(Gate)
_source_decoder = msgspec.json.Decoder(RunSource)
_effect_decoder = msgspec.json.Decoder(Effect)


def _queue(pipe: Any, effect: Effect) -> None:
    if effect.kind == "xadd" and effect.event is not None:
        pipe.xadd(effect.key, {EVENT_FIELD: encode_event(effect.event)}, maxlen=_STREAM_MAXLEN, approximate=True)
    elif effect.kind == "zadd" and effect.member is not None:
        pipe.zadd(effect.key, {effect.member: effect.score})
    elif effect.kind == "zrem" and effect.member is not None:
        pipe.zrem(effect.key, effect.member)
    elif effect.kind == "hincrby" and effect.member is not None:
        member, amount = effect.member, (effect.by if effect.by is not None else int(effect.score))
        pipe.eval(_APPLY_COUNTER, 2, counter_key(member), COUNTER_TOTALS, effect.id or uuid.uuid4().hex, amount, member)


class Lease:
    """A held run lease: its fencing token, what was read with it, and what its commits queued.

    `exact` is the list of outbox entries this lease's commits appended while they are all the
    outbox holds (so giving the lease back can apply them without reading the outbox first), and
    None once the outbox is found to hold more (a crash left effects behind).
    """

    __slots__ = ("also", "exact", "run", "run_id", "source", "token")

    def __init__(self, run_id: str, token: str) -> None:
        self.run_id = run_id
        self.token = token
        #: The run and source keys' raw values, when the lease was taken with `read=True`.
        self.run: bytes | None = None
        self.source: bytes | None = None
        #: The values of the `also` keys read with the lease, in order.
        self.also: list[bytes | None] = []
        self.exact: list[bytes] | None = []

    def queued(self, raws: Sequence[bytes], outbox_length: int) -> None:
        """Record a commit's entries, given the outbox's length right after it."""
        if self.exact is not None and outbox_length == len(self.exact) + len(raws):
            self.exact.extend(raws)
        else:
            self.exact = None


class RunStore:
    """Reads runs and commits their changes with their effects (see the module docstring)."""

    def __init__(
        self, redis: RedisClient, *, lock_ttl: float = 10.0, lock_poll: float = 0.05, prefix: str = "fig:q2c"
    ) -> None:
        """`prefix` namespaces the keys (`fig:q2c` for quote-to-cash, `fig:flow` for the other workflows).

        `lock_ttl`: a lease expires that long after its holder stopped renewing it (died).
        """
        # redis-py's stubs type command results as `Awaitable[T] | T`; this client is always async.
        self.redis: Any = redis
        self.prefix = prefix
        self.lock_ttl_ms = max(1, int(lock_ttl * 1000))
        self.lock_poll = lock_poll
        self.heartbeat = LeaseHeartbeat(self.redis, self.lock_ttl_ms)
        self._cluster = isinstance(redis, RedisCluster)

    def _k(self, run_id: str, part: str) -> str:
        return _key(run_id, part, self.prefix)

    async def get(self, run_id: str) -> QuoteToCashRun | None:
        return self.decode_run(await self.redis.get(self._k(run_id, "run")))

    @staticmethod
    def decode_run(raw: bytes | None) -> QuoteToCashRun | None:
        return _run_decoder.decode(raw) if raw is not None else None

    @staticmethod
    def decode_source(raw: bytes | None) -> RunSource | None:
        return _source_decoder.decode(raw) if raw is not None else None

    async def get_many(self, run_ids: Sequence[str]) -> list[tuple[str, QuoteToCashRun | None, RunSource | None]]:
        """Runs with their sources, read in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for run_id in run_ids:
            pipe.get(self._k(run_id, "run"))
            pipe.get(self._k(run_id, "source"))
        values = await pipe.execute()
        return [
            (
                run_id,
                _run_decoder.decode(values[2 * n]) if values[2 * n] is not None else None,
                _source_decoder.decode(values[2 * n + 1]) if values[2 * n + 1] is not None else None,
            )
            for n, run_id in enumerate(run_ids)
        ]

    def source_key(self, run_id: str) -> str:
        """The key of the run's source snapshot (a retry from `received` refreshes it)."""
        return self._k(run_id, "source")

    async def source(self, run_id: str) -> RunSource:
        raw = await self.redis.get(self._k(run_id, "source"))
        if raw is None:
            raise KeyError(f"run {run_id} has no source snapshot")
        return _source_decoder.decode(raw)

    async def history(self, run_id: str) -> list[Gate]:
        return [_gate_decoder.decode(raw) for raw in await self.redis.lrange(self._k(run_id, "history"), 0, -1)]

    async def create(
        self, run: QuoteToCashRun, source: RunSource, effects: Sequence[Effect]
    ) -> tuple[QuoteToCashRun, bool]:
        """Create the run unless it exists, and relay its effects; returns the stored run and whether
        this call created it."""
        keys = [self._k(run.id, p) for p in ("run", "source", "history", "outbox")]
        queued = [_encoder.encode(e) for e in _with_ids(effects)]
        args = [_encoder.encode(run), _encoder.encode(source), _encoder.encode(run.gates[-1]), *queued]
        existing = await self.redis.eval(_CREATE, len(keys), *keys, *args)
        if existing is not None:
            return _run_decoder.decode(existing), False
        # A new run's outbox holds exactly what the script just put there: no need to read it back.
        await self._apply(run.id, queued)
        return run, True

    async def commit(
        self,
        run: QuoteToCashRun,
        lease: Lease,
        effects: Sequence[Effect] = (),
        writes: Sequence[tuple[str, bytes]] = (),
        *,
        gates: Sequence[Gate] | None = None,
    ) -> None:
        """Store `run` and append `gates` (default: its last gate) to its history, with its effects;
        LockLost if the lease is gone. The effects are relayed when the lease is given back.

        `writes` are further (key, value) pairs SET in the same script: keys tagged like the run
        (its exception), so they commit with it or not at all.
        """
        passed = [run.gates[-1]] if gates is None else gates
        await self._commit(
            run.id,
            lease,
            [_encoder.encode(g) for g in passed],
            effects,
            [(self._k(run.id, "run"), _encoder.encode(run)), *writes],
        )

    async def write(
        self, run_id: str, lease: Lease, writes: Sequence[tuple[str, bytes]], effects: Sequence[Effect] = ()
    ) -> None:
        """SET keys of the run's slot (not the run) with effects under the lease; LockLost if it is gone."""
        await self._commit(run_id, lease, [], effects, writes)

    async def _commit(
        self,
        run_id: str,
        lease: Lease,
        gates: Sequence[bytes],
        effects: Sequence[Effect],
        writes: Sequence[tuple[str, bytes]],
    ) -> None:
        keys = [self._k(run_id, p) for p in ("lock", "history", "outbox")] + [k for k, _ in writes]
        queued = [_encoder.encode(e) for e in _with_ids(effects)]
        args: list[str | bytes] = [lease.token, str(len(gates)), str(len(queued)), *gates, *queued]
        args += [v for _, v in writes]
        length = int(await self.redis.eval(_COMMIT, len(keys), *keys, *args))
        if length < 0:
            raise LockLost(f"lease on run {run_id} expired before the commit")
        lease.queued(queued, length)

    @asynccontextmanager
    async def lease(
        self, run_id: str, *, wait: float = 0.0, read: bool = False, also: Sequence[str] = ()
    ) -> AsyncIterator[Lease]:
        """Hold the run's lease (SET NX PX) for the block; RunBusy if it stays taken for `wait` s.

        `read`: the run and source keys are read in the same round trip (`Lease.run`, `Lease.source`,
        raw: `decode_run` and `decode_source` read quote-to-cash's), and so are the `also` keys
        (`Lease.also`: keys of other slots, e.g. the active controls version; not atomic with the lease).
        On the way out the effects the block committed are relayed and the lease is released, in
        one round trip when the outbox holds only those effects.
        """
        key = self._k(run_id, "lock")
        held = Lease(run_id, uuid.uuid4().hex)
        deadline = time.monotonic() + wait
        while True:
            pipe = self.redis.pipeline(transaction=False)
            pipe.set(key, held.token, nx=True, px=self.lock_ttl_ms)
            if read:
                pipe.get(self._k(run_id, "run"))
                pipe.get(self._k(run_id, "source"))
            for key_ in also:
                pipe.get(key_)
            taken, *values = await pipe.execute()
            if taken:
                break
            if time.monotonic() >= deadline:
                raise RunBusy(f"run {run_id} is being advanced by another worker")
            await asyncio.sleep(self.lock_poll)
        if read:
            held.run, held.source, *values = values
        held.also = values
        self.heartbeat.hold(key, held.token)
        try:
            yield held
        finally:
            self.heartbeat.drop(key)
            await self._give_back(held, key)

    async def _give_back(self, lease: Lease, key: str) -> None:
        """Relay what the lease committed, then release it (one round trip on the fast path)."""
        if lease.exact is None:
            await self.relay(lease.run_id)
        await self._apply(lease.run_id, lease.exact or [], release=(key, lease.token))

    async def _apply(self, run_id: str, raws: Sequence[bytes], release: tuple[str, str] | None = None) -> None:
        """Apply the outbox entries `raws` in order, then pop them (and release the lease `release`).

        On one Redis that is one pipeline: its commands run in order, so the pop follows the effects.
        A Redis Cluster pipeline runs each node's share on its own, so a node failing (a failover)
        could lose an effect whose pop succeeded on the run's node: there the effects go first and
        the pop only once they all succeeded; when they did not, the outbox keeps them for the next
        relay, and the lease is released all the same.
        """
        pipe = self.redis.pipeline(transaction=False)
        for raw in raws:
            _queue(pipe, _effect_decoder.decode(raw))
        if self._cluster and raws:
            try:
                await pipe.execute()
            except BaseException:
                if release is not None:
                    with contextlib.suppress(RedisError, OSError):
                        await self.redis.eval(_RELEASE, 1, *release)
                raise
            pipe = self.redis.pipeline(transaction=False)
        if raws:
            pipe.eval(_POP_APPLIED, 1, self._k(run_id, "outbox"), *raws)
        if release is not None:
            pipe.eval(_RELEASE, 1, *release)
        await pipe.execute()

    async def relay(self, run_id: str) -> int:
        """Apply the run's outbox in order; returns how many effects were applied.

        Two round trips whatever the outbox holds (three on Redis Cluster, see `_apply`): read it,
        then apply every effect and pop exactly the entries applied (in order), and only while they
        are still at the head (a concurrent relay may have popped them already).
        """
        raws = await self.redis.lrange(self._k(run_id, "outbox"), 0, -1)
        if not raws:
            return 0
        await self._apply(run_id, raws)
        return len(raws)

    async def enqueue(self, effects: Sequence[Effect]) -> None:
        """Apply `effects` now, outside any run's commit (at-least-once, like every effect)."""
        pipe = self.redis.pipeline(transaction=False)
        for effect in effects:
            _queue(pipe, effect)
        await pipe.execute()

    async def runs_with_outbox(self, count: int = 1000) -> list[str]:
        """Runs whose outbox still holds effects (left by a crash between commit and relay)."""
        found: list[str] = []
        async for raw in self.redis.scan_iter(match=f"{self.prefix}:{{*}}:outbox", count=count):
            key = raw.decode() if isinstance(raw, bytes) else str(raw)
            found.append(key[key.index("{") + 1 : key.index("}")])
        return found

    async def forget_waiting(self, run_id: str) -> None:
        """Drop a run from the waiting index (it left `order_created` but the relay did not say so)."""
        await self.redis.zrem(WAITING_INDEX, run_id)

    async def waiting(self, limit: int = 500) -> list[str]:
        """Runs waiting for ERP booking, longest waiting first."""
        members = await self.redis.zrange(WAITING_INDEX, 0, limit - 1)
        return [m.decode() if isinstance(m, bytes) else str(m) for m in members]

    async def waiting_since(self, until: float, limit: int = 10_000) -> list[tuple[str, float]]:
        """Runs waiting for ERP booking since `until` (epoch s) or longer, with since when; longest first."""
        members = await self.redis.zrangebyscore(WAITING_INDEX, "-inf", until, start=0, num=limit, withscores=True)
        return [(m.decode() if isinstance(m, bytes) else str(m), float(score)) for m, score in members]
