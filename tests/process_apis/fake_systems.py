"""Small Litestar fakes of the three system APIs and the identity provider, recording every call.

They speak the canonical system API surface (ARCHITECTURE.md) and are served over real HTTP with
`tests.support.running_server`, so the process API's adapters, auth and headers run for real.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, get, patch, post, put
from litestar.params import FromPath, FromQuery, RawBody

from contracts import (
    Account,
    AccountingPeriod,
    ActualsBatch,
    CommittedBookingsLoad,
    Customer,
    CustomerMasterUpdate,
    CustomerUpsert,
    Money,
    Opportunity,
    PlanningImportResult,
    SalesOrder,
    SalesOrderLine,
    SalesOrderUpsert,
)
from contracts.ownership import ownership_violations
from tests.support import running_server

SUBSIDIARY = {"US01": "1", "DE01": "2", "GB01": "3"}

JSON = "application/json"


_JURISDICTION = {"NA": "US-CA", "DACH": "DE", "UKI": "GB"}
#: The jurisdictions each entity's one tax code is the default for (US01 sells to SG as an export).
_TAXED = {"US01": ["US-CA", "US-NY", "SG"], "DE01": ["DE"], "GB01": ["GB"]}


def account_for(opportunity: Opportunity, *, tax_jurisdiction: str | None = "default") -> Account:
    """The CRM account of an opportunity; its tax jurisdiction follows the region unless given."""
    return Account(
        id=opportunity.account_id,
        name=opportunity.account_name or opportunity.account_id,
        last_modified=opportunity.last_modified,
        region=opportunity.region,
        tax_jurisdiction=_JURISDICTION.get(opportunity.region or "", "SG")
        if tax_jurisdiction == "default"
        else tax_jurisdiction,
    )


def reference_data() -> dict[str, list[dict[str, Any]]]:
    """The ERP system API's reference lists for the sandbox's seed (three entities, three items)."""
    entities = [("US01", "1", "US", "USD"), ("DE01", "2", "DE", "EUR"), ("GB01", "3", "GB", "GBP")]
    return {
        "subsidiaries": [
            {"code": c, "name": f"FIG {c}", "country": n, "base_currency": cur, "erp_subsidiary_id": s}
            for c, s, n, cur in entities
        ],
        "currencies": [
            {"id": "1", "code": "USD", "name": "US Dollar"},
            {"id": "2", "code": "GBP", "name": "British pound"},
            {"id": "4", "code": "EUR", "name": "Euro"},
        ],
        "items": [
            {"id": i, "product_code": code, "name": name, "revenue_category": category}
            for i, code, name, category in (
                ("101", "FIG-PLAT", "FIG Platform subscription", "subscription"),
                ("102", "FIG-SUPP", "FIG Premium support", "support"),
                ("103", "FIG-SERV", "FIG Professional services", "services"),
            )
        ],
        "tax-codes": [
            {
                "id": str(n),
                "code": f"VAT-{c}",
                "description": "",
                "rate": "20.00",
                "country": k,
                "legal_entity": c,
                "jurisdictions": _TAXED[c],
            }
            for n, (c, _, k, _) in enumerate(entities, start=1)
        ],
    }


@dataclass
class Call:
    service: str
    method: str
    path: str
    headers: dict[str, str]
    body: Any = None


@dataclass
class Systems:
    """What the fakes hold and saw; the tests read and change it between calls."""

    opportunities: dict[str, Opportunity] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    customers: dict[str, Customer] = field(default_factory=dict)
    orders: dict[str, SalesOrder] = field(default_factory=dict)
    loads: list[CommittedBookingsLoad] = field(default_factory=list)
    periods: list[AccountingPeriod] = field(default_factory=list)
    actuals: dict[tuple[str, str], ActualsBatch] = field(default_factory=dict)
    planning_actuals: list[ActualsBatch] = field(default_factory=list)
    master_updates: list[tuple[str, str, CustomerMasterUpdate]] = field(default_factory=list)
    #: The ERP's reference lists (`/v1/reference/<kind>`), as the sandbox seeds them.
    reference: dict[str, list[dict[str, Any]]] = field(default_factory=reference_data)
    #: Fields the fake system APIs refuse (409) as if another system owned them (ownership drift).
    refuse_fields: set[str] = field(default_factory=set)
    #: Services whose customer-master PATCHes and actuals loads answer 503 (an outage) until removed.
    unavailable: set[str] = field(default_factory=set)
    calls: list[Call] = field(default_factory=list)
    token_scopes: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    urls: dict[str, str] = field(default_factory=dict)

    def reset(self, *opportunities: Opportunity) -> None:
        with self.lock:
            self.opportunities = {o.id: o for o in opportunities}
            self.accounts = {o.account_id: account_for(o) for o in opportunities}
            self.customers.clear()
            self.orders.clear()
            self.loads.clear()
            self.periods.clear()
            self.actuals.clear()
            self.planning_actuals.clear()
            self.master_updates.clear()
            self.reference = reference_data()
            self.refuse_fields.clear()
            self.unavailable.clear()
            self.calls.clear()
            self.token_scopes.clear()

    def book(self, external_id: str) -> SalesOrder:
        with self.lock:
            order = msgspec.structs.replace(
                self.orders[external_id], status="pending_fulfillment", status_code="B", booked=True
            )
            self.orders[external_id] = order
            return order

    def of(self, service: str, method: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.service == service and (method is None or c.method == method)]

    def record(self, service: str, request: Request[Any, Any, Any], body: Any = None) -> None:
        keep = ("authorization", "x-correlation-id", "idempotency-key", "traceparent")
        headers = {k: v for k, v in request.headers.items() if k in keep}
        with self.lock:
            self.calls.append(Call(service, request.method, request.url.path, headers, body))


class _Line(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    item_id: str
    quantity: Decimal
    unit_price: Money
    amount: Money
    tax_code_id: str | None = None


class _OrderUpsert(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """SalesOrderUpsert as the ERP decodes it (contracts' `Quantity` cannot be decoded by msgspec)."""

    customer_id: str
    subsidiary_id: str
    currency: str
    tran_date: date
    lines: list[_Line]
    memo: str | None = None
    other_ref: str | None = None


def _order_upsert(body: bytes) -> SalesOrderUpsert:
    wire = msgspec.json.decode(body, type=_OrderUpsert, strict=True)
    lines = [SalesOrderLine(**msgspec.structs.asdict(line)) for line in wire.lines]
    return SalesOrderUpsert(**{**msgspec.structs.asdict(wire), "lines": lines})


def _json(value: Any, status: int = 200) -> Response[bytes]:
    return Response(content=msgspec.json.encode(value), status_code=status, media_type=JSON)


def _problem(status: int, detail: str) -> Response[bytes]:
    body = {"type": "https://fig.dev/problems/x", "title": "Refused", "status": status, "detail": detail}
    return Response(content=msgspec.json.encode(body), status_code=status, media_type="application/problem+json")


@get("/health/live", sync_to_thread=False)
def live() -> dict[str, str]:
    return {"status": "ok"}


def _master_patch(
    systems: Systems, service: str, target: str, request: Request[Any, Any, Any], body: bytes
) -> Response[bytes]:
    """PATCH of a customer-master record: 409 naming each field the origin does not own, else 200."""
    update = msgspec.json.decode(body, type=CustomerMasterUpdate, strict=True)
    systems.record(service, request, update)
    if service in systems.unavailable:
        return _problem(503, f"{service} is unavailable")
    fields = update.changes.fields_set()
    violations = ownership_violations(update.origin, fields)
    names = ", ".join(
        [f"{v.field} (owned by {v.owner})" for v in violations] + sorted(systems.refuse_fields & set(fields))
    )
    if names:
        return _problem(409, f"origin {update.origin} may not change {names}")
    with systems.lock:
        systems.master_updates.append((service, target, update))
    if service == "erp":
        existing = systems.customers.get(target)
        if existing is None:
            return _problem(404, f"Customer {target} does not exist")
        changed = msgspec.structs.replace(existing, name=update.changes.name or existing.name)
        systems.customers[target] = changed
        return _json(changed)
    account = systems.accounts.get(target)
    if account is None:
        return _problem(404, f"Account {target} does not exist")
    return _json(msgspec.structs.replace(account, erp_customer_id=update.changes.erp_customer_id))


def crm_app(systems: Systems) -> Litestar:
    @get("/v1/opportunities/{opportunity_id:str}", sync_to_thread=False)
    def opportunity(opportunity_id: FromPath[str], request: Request[Any, Any, Any]) -> Response[bytes]:
        systems.record("crm", request)
        found = systems.opportunities.get(opportunity_id)
        return _json(found) if found else _problem(404, f"Opportunity {opportunity_id} does not exist")

    @get("/v1/accounts/{account_id:str}", sync_to_thread=False)
    def account(account_id: FromPath[str], request: Request[Any, Any, Any]) -> Response[bytes]:
        systems.record("crm", request)
        found = systems.accounts.get(account_id)
        return _json(found) if found else _problem(404, f"Account {account_id} does not exist")

    @get("/v1/opportunities", sync_to_thread=False)
    def won(
        request: Request[Any, Any, Any],
        close_period: FromQuery[str],
        region: FromQuery[str],
        won: FromQuery[str] = "true",
        limit: FromQuery[int] = 200,
        cursor: FromQuery[str | None] = None,
    ) -> Response[bytes]:
        systems.record("crm", request)
        found = sorted(
            (
                o
                for o in systems.opportunities.values()
                if o.is_won and o.region == region and o.close_date.strftime("%Y-%m") == close_period
            ),
            key=lambda o: o.id,
        )
        start = int(cursor or 0)
        page = found[start : start + min(limit, 2)]  # tiny pages: the adapter must follow cursors
        more = start + len(page) < len(found)
        return _json({"items": page, "next_cursor": str(start + len(page)) if more else None})

    @patch("/v1/accounts/{account_id:str}", sync_to_thread=False)
    def patch_account(account_id: FromPath[str], request: Request[Any, Any, Any], body: RawBody) -> Response[bytes]:
        return _master_patch(systems, "crm", account_id, request, body)

    return Litestar([live, opportunity, account, won, patch_account])


def erp_app(systems: Systems) -> Litestar:
    @put("/v1/customers/{external_id:str}", sync_to_thread=False)
    def customer(external_id: FromPath[str], request: Request[Any, Any, Any], body: RawBody) -> Response[bytes]:
        command = msgspec.json.decode(body, type=CustomerUpsert, strict=True)
        systems.record("erp", request, command)
        with systems.lock:
            existing = systems.customers.get(external_id)
            created = existing is None
            initial = command if existing is None else existing  # CRM fields: a new customer's only
            systems.customers[external_id] = Customer(
                id=existing.id if existing is not None else str(500 + len(systems.customers)),
                name=command.name,
                subsidiary_id=command.subsidiary_id,
                currency=command.currency,
                external_id=external_id,
                region=initial.region,
                industry=initial.industry,
                billing_country=initial.billing_country,
            )
            return _json(systems.customers[external_id], 201 if created else 200)

    @put("/v1/sales-orders/{external_id:str}", sync_to_thread=False)
    def sales_order(external_id: FromPath[str], request: Request[Any, Any, Any], body: RawBody) -> Response[bytes]:
        command = _order_upsert(body)
        systems.record("erp", request, command)
        with systems.lock:
            existing = systems.orders.get(external_id)
            order = SalesOrder(
                id=existing.id if existing else str(7000 + len(systems.orders)),
                customer_id=command.customer_id,
                subsidiary_id=command.subsidiary_id,
                currency=command.currency,
                tran_date=command.tran_date,
                status=existing.status if existing else "pending_approval",
                status_code=existing.status_code if existing else "A",
                booked=existing.booked if existing else False,
                total=Money(
                    amount=sum((x.amount.amount for x in command.lines), Decimal(0)), currency=command.currency
                ),
                external_id=external_id,
                lines=list(command.lines),
            )
            systems.orders[external_id] = order
            return _json(order, 200 if existing else 201)

    @get("/v1/sales-orders/{order_id:str}", sync_to_thread=False)
    def get_order(order_id: FromPath[str], request: Request[Any, Any, Any]) -> Response[bytes]:
        systems.record("erp", request)
        for order in systems.orders.values():
            if order.id == order_id:
                return _json(order)
        return _problem(404, f"Sales order {order_id} does not exist")

    @post("/v1/sales-orders/{order_id:str}/close", sync_to_thread=False, status_code=200)
    def close_order(order_id: FromPath[str], request: Request[Any, Any, Any]) -> Response[bytes]:
        systems.record("erp", request)
        with systems.lock:
            for key, order in systems.orders.items():
                if order.id == order_id:
                    if order.booked:
                        detail = f"Sales order {order_id} is {order.status}; reversed by order management"
                        return _problem(409, detail)
                    systems.orders[key] = msgspec.structs.replace(order, status="closed", status_code="H")
                    return _json(systems.orders[key])
        return _problem(404, f"Sales order {order_id} does not exist")

    @get("/v1/sales-orders", sync_to_thread=False)
    def list_orders(
        request: Request[Any, Any, Any],
        legal_entity: FromQuery[str],
        period: FromQuery[str],
        limit: FromQuery[int] = 200,
    ) -> Response[bytes]:
        systems.record("erp", request)
        items = [
            o
            for o in systems.orders.values()
            if o.subsidiary_id == SUBSIDIARY[legal_entity] and o.tran_date.strftime("%Y-%m") == period
        ]
        return _json({"items": items, "next_cursor": None})

    @get("/v1/customers/{key:str}", sync_to_thread=False)
    def get_customer(key: FromPath[str], request: Request[Any, Any, Any]) -> Response[bytes]:
        systems.record("erp", request)
        found = systems.customers.get(key)
        return _json(found) if found else _problem(404, f"Customer {key} does not exist")

    @patch("/v1/customers/{key:str}", sync_to_thread=False)
    def patch_customer(key: FromPath[str], request: Request[Any, Any, Any], body: RawBody) -> Response[bytes]:
        return _master_patch(systems, "erp", key, request, body)

    @get("/v1/accounting-periods", sync_to_thread=False)
    def periods(
        request: Request[Any, Any, Any], legal_entity: FromQuery[str], status: FromQuery[str | None] = None
    ) -> Response[bytes]:
        systems.record("erp", request)
        found = [p for p in systems.periods if p.legal_entity == legal_entity and status in (None, p.status)]
        return _json({"items": found})

    @get("/v1/actuals", sync_to_thread=False)
    def actuals(
        request: Request[Any, Any, Any], legal_entity: FromQuery[str], period: FromQuery[str]
    ) -> Response[bytes]:
        systems.record("erp", request)
        found = systems.actuals.get((legal_entity, period))
        return _json(found) if found else _problem(404, f"no actuals for {legal_entity} {period}")

    @get("/v1/reference/{kind:str}", sync_to_thread=False)
    def reference(kind: FromPath[str], request: Request[Any, Any, Any]) -> Response[bytes]:
        systems.record("erp", request)
        found = systems.reference.get(kind)
        return _json({"items": found}) if found is not None else _problem(404, f"no reference list {kind}")

    handlers = [
        live, customer, get_customer, sales_order, get_order, close_order, list_orders, patch_customer, periods,
        actuals, reference,
    ]  # fmt: skip
    return Litestar(handlers)


def planning_app(systems: Systems) -> Litestar:
    @post("/v1/committed-bookings", sync_to_thread=False)
    def load(request: Request[Any, Any, Any], body: RawBody) -> Response[bytes]:
        command = msgspec.json.decode(body, type=CommittedBookingsLoad, strict=True)
        systems.record("planning", request, command)
        with systems.lock:
            systems.loads.append(command)
            number = len(systems.loads)
        result = PlanningImportResult(
            import_id="112000000001",
            task_id=f"task-{number}",
            state="COMPLETE",
            successful=True,
            rows_loaded=len(command.bookings),
            rows_rejected=0,
        )
        return _json(result)

    @get("/v1/committed-bookings", sync_to_thread=False)
    def committed(
        request: Request[Any, Any, Any], legal_entity: FromQuery[str], period: FromQuery[str]
    ) -> Response[bytes]:
        systems.record("planning", request)
        cells = {
            b.booking_code: b
            for load in systems.loads
            for b in load.bookings
            if b.legal_entity == legal_entity and b.period == period
        }
        # As the planning system API: the cells' version, here the seed's, published (locked).
        version = {"id": "107000000002", "name": "Committed Bookings", "published": True, "kind": "committed"}
        return _json({"items": list(cells.values()), "version": version})

    @post("/v1/actuals", sync_to_thread=False)
    def load_actuals(request: Request[Any, Any, Any], body: RawBody) -> Response[bytes]:
        batch = msgspec.json.decode(body, type=ActualsBatch, strict=True)
        systems.record("planning", request, batch)
        if "planning" in systems.unavailable:
            return _problem(503, "planning is unavailable")
        if not batch.lines:  # as the planning system API: an import without lines cannot be loaded
            return _problem(422, "$.lines: at least one line is required")
        with systems.lock:
            systems.planning_actuals.append(batch)
        result = PlanningImportResult(
            import_id="112000000002", task_id=f"task-a{len(systems.planning_actuals)}", state="COMPLETE",
            successful=True, rows_loaded=len(batch.lines), rows_rejected=0,
        )  # fmt: skip
        return _json(result)

    return Litestar([live, load, committed, load_actuals])


def idp_app(systems: Systems) -> Litestar:
    @post("/oauth2/token", sync_to_thread=False)
    def token(request: Request[Any, Any, Any], body: RawBody) -> Response[bytes]:
        form = dict(pair.split("=", 1) for pair in body.decode().split("&"))
        with systems.lock:
            systems.token_scopes.append(form.get("scope", "").replace("+", " ").replace("%3A", ":"))
        return _json({"access_token": "fake-service-token", "token_type": "Bearer", "expires_in": 300})

    return Litestar([live, token])


@contextmanager
def serve_systems() -> Iterator[Systems]:
    """Serve the four fakes on free ports; `systems.urls` maps crm/erp/planning/idp to base URLs."""
    systems = Systems()
    with ExitStack() as stack:
        for name, factory in (("crm", crm_app), ("erp", erp_app), ("planning", planning_app), ("idp", idp_app)):
            systems.urls[name] = stack.enter_context(running_server(factory(systems)))
        yield systems
