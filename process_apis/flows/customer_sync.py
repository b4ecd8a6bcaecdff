"""Customer master sync: each side writes only the customer-master fields it owns.

    received -> changes_derived -> applied -> completed        (skipped | failed)

`crm.account.changed.v1` (data: canonical Account) sends the CRM-owned fields to the ERP customer
`SF-<account id>` (`PATCH /v1/customers/{key}`, origin crm); `erp.customer.changed.v1` (data:
canonical Customer with an `SF-` external id) sends the ERP-owned fields to the CRM account
(`PATCH /v1/accounts/{id}`, origin erp). A 409 field-ownership refusal parks the run on a
`field_ownership` exception owned by master data. A customer the ERP does not have yet (404) is
skipped: quote-to-cash creates it. The fields last sent to each record are remembered
(`SentFields`: `fig:cms:last:<origin>:<target>`, kept for `ECHO_TTL`), so the echo of our own write
coming back as a change event is skipped instead of bouncing between the systems. The echo arrives
within a feed poll or two; after the TTL an identical change is simply sent again (the PATCH is
idempotent), so the keys do not pile up for records that stopped changing. Quote-to-cash creates
a customer with its account's CRM-owned fields and records them here too, so the account change
that follows (the ERP-owned fields arriving in the CRM) is skipped rather than written again.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import msgspec

from contracts import CUSTOMER_CHANGED, Account, CloudEvent, Customer, CustomerMasterChanges, CustomerMasterUpdate
from contracts.ownership import CUSTOMER_MASTER_OWNERS
from process_apis.errors import DownstreamRejected, ProcessError
from process_apis.flows.model import FlowRun
from process_apis.flows.runner import Skip, StepResult
from process_apis.ports import CrmMasterPort, ErpMasterPort

__all__ = [
    "CustomerSync",
    "FieldOwnershipRefused",
    "SentFields",
    "SyncRequest",
    "from_account",
    "from_customer",
    "sync_request",
]

_encoder = msgspec.json.Encoder()

#: Seconds the fields last sent to a record are remembered (to skip the echo of our own write).
ECHO_TTL = 7 * 86_400


class FieldOwnershipRefused(ProcessError):
    status, slug, title = 409, "field-ownership", "Field ownership violated"


class SyncRequest(msgspec.Struct, kw_only=True, frozen=True):
    """What one event asks: send `changes` (owned by `origin`) to `target` in the other system."""

    origin: Literal["crm", "erp"]
    target: str
    changes: CustomerMasterChanges


def _owned(origin: str, values: dict[str, Any]) -> CustomerMasterChanges:
    kept = {k: v for k, v in values.items() if v is not None and CUSTOMER_MASTER_OWNERS.get(k) == origin}
    return msgspec.convert(kept, type=CustomerMasterChanges)


def sync_request(event: CloudEvent) -> SyncRequest | None:
    """The sync an account/customer change event asks for, or None (not ours, or not linked to CRM)."""
    if event.type == CUSTOMER_CHANGED:
        return from_customer(msgspec.convert(event.data, type=Customer, strict=False))
    return from_account(msgspec.convert(event.data, type=Account, strict=False))


def from_customer(customer: Customer) -> SyncRequest | None:
    """ERP-owned fields of a customer, to the CRM account it is linked to (None: not linked to CRM)."""
    if not (customer.external_id or "").startswith("SF-"):
        return None
    values = {
        "subsidiary_id": customer.subsidiary_id,
        "currency": customer.currency,
        "terms": customer.terms,
        "credit_limit": customer.credit_limit,
        "erp_customer_id": customer.id,
    }
    return SyncRequest(origin="erp", target=(customer.external_id or "")[3:], changes=_owned("erp", values))


def from_account(account: Account) -> SyncRequest:
    """CRM-owned fields of an account, to the ERP customer `SF-<account id>`."""
    values = {
        "name": account.name,
        "billing_country": account.billing_country,
        "region": account.region,
        "industry": account.industry,
    }
    return SyncRequest(origin="crm", target=f"SF-{account.id}", changes=_owned("crm", values))


class SentFields:
    """The owned fields last sent to each record, so the echo of our own write is not sent back."""

    def __init__(self, redis: Any) -> None:
        self.redis: Any = redis

    @staticmethod
    def key(request: SyncRequest) -> str:
        return f"fig:cms:last:{request.origin}:{request.target}"

    @staticmethod
    def fingerprint(request: SyncRequest) -> bytes:
        return hashlib.sha256(_encoder.encode(request.changes)).hexdigest()[:32].encode()

    async def holds(self, request: SyncRequest) -> bool:
        """Whether `request`'s values are the ones last sent to its target (within `ECHO_TTL`)."""
        return bool(await self.redis.get(self.key(request)) == self.fingerprint(request))

    async def remember(self, request: SyncRequest) -> None:
        """Record that `request.target` now holds `request`'s values (sent by us)."""
        await self.redis.set(self.key(request), self.fingerprint(request), ex=ECHO_TTL)

    def queue_remember(self, pipe: Any, request: SyncRequest) -> None:
        """`remember` as a command on the caller's pipeline."""
        pipe.set(self.key(request), self.fingerprint(request), ex=ECHO_TTL)


class CustomerSync:
    """The state machine of one customer-master change."""

    workflow: str = "customer_master_sync"
    gates: tuple[str, ...] = ("changes_derived", "applied")

    def __init__(self, *, crm: CrmMasterPort, erp: ErpMasterPort, redis: Any) -> None:
        self.crm = crm
        self.erp = erp
        self.sent = SentFields(redis)

    @staticmethod
    def _fingerprint(request: SyncRequest) -> str:
        return SentFields.fingerprint(request).decode()

    async def current(self, subject: str) -> SyncRequest | None:
        """The sync of run `subject` (`crm->SF-<account>` or `erp-><account>`) from the source record as it is now.

        A retry re-reads the source instead of replaying the old event: what is synced is what holds
        after the cause was fixed. None when the source record is gone (or no longer linked).
        """
        origin, _, target = subject.partition("->")
        if origin == "crm":
            account = await self.crm.get_account(target.removeprefix("SF-"))
            return from_account(account) if account is not None else None
        customer = await self.erp.get_customer(f"SF-{target}")
        return from_customer(customer) if customer is not None else None

    async def step(self, run: FlowRun, gate: str, scratch: dict[str, Any]) -> StepResult:
        request: SyncRequest = scratch["request"]
        fingerprint = self._fingerprint(request)
        if gate == "changes_derived":
            fields = request.changes.fields_set()
            if not fields:
                raise Skip(f"no {request.origin}-owned field to send")
            if await self.sent.holds(request):
                raise Skip(f"{request.target} already holds these {request.origin}-owned values")
            return StepResult(
                detail=f"{request.origin} owns {', '.join(fields)}: send to {request.target}",
                result={"origin": request.origin, "target": request.target, "fields": fields},
            )
        key = f"cms:{request.origin}:{request.target}:{fingerprint}"
        update = CustomerMasterUpdate(origin=request.origin, changes=request.changes)
        try:
            if request.origin == "crm":
                customer = await self.erp.patch_customer(request.target, update, idempotency_key=key)
                applied = f"ERP customer {customer.id}"
            else:
                account = await self.crm.patch_account(request.target, update, idempotency_key=key)
                applied = f"CRM account {account.id}"
        except DownstreamRejected as exc:
            if exc.downstream_status == 404:
                raise Skip(f"{request.target} does not exist in the other system yet") from None
            if exc.downstream_status == 409:
                raise FieldOwnershipRefused(exc.detail, errors=exc.errors) from None
            raise
        await self.sent.remember(request)
        return StepResult(detail=f"{applied} updated with {request.origin}-owned fields", idempotency_key=key)
