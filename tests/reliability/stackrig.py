"""The whole stack with two process-API instances, driven like production: what the SIGKILL suites share.

`open_rig` starts every service as its own OS process (`deploy.stack.Stack`, embedded Redis with
its append-only file) plus a second process-API instance on the same Redis and consumer groups.
`Rig` approves seeded opportunities in the Salesforce sandbox, starts their runs (directly at the
process-API instances, or through the gateway with an Idempotency-Key), plays the ERP user who
approves every new sales order in the NetSuite sandbox, waits for the runs to settle, and reads
what each deal left behind in the vendors: its ERP orders and its Anaplan cells.

The CRM approval events do not start runs here (`FIG_CONSUME_CRM_EVENTS=false`): a run exists only
because a start was acknowledged, so a lost acknowledgement cannot be hidden by the event.
The fault scenarios themselves are in `tests/reliability/scenarios.py`; the tests run them with
small counts and `bench.reliability.soak` with large ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from deploy.demo import exchange_token, fetch_token
from deploy.services import SERVICES
from deploy.stack import ManagedProcess, Stack
from process_apis.schemas import PARKED_STATES, TERMINAL_STATES
from servicekit.redis import free_port, free_ports

__all__ = ["DealOutcome", "Rig", "open_rig"]

RUNS = "/v1/quote-to-cash/runs"
#: Regions the default mapping set maps: opportunities elsewhere become exceptions by design.
MAPPED_REGIONS = ("NA", "DACH", "UKI")


@dataclass(frozen=True)
class DealOutcome:
    """What one deal left behind: its run's state, exception, ERP orders and planning rows."""

    opportunity_id: str
    state: str | None
    exception_id: str | None
    orders: list[str]
    #: Booking codes of the Anaplan cells of this deal's orders, and the deal's number of lines.
    cells: list[str]
    lines: int

    @property
    def settled(self) -> bool:
        """Completed, or parked on an exception a person can see (never silently in between)."""
        return self.state == "completed" or (self.state in PARKED_STATES and self.exception_id is not None)

    @property
    def one_effect(self) -> bool:
        """A completed deal has exactly one ERP order and one planning row per opportunity line."""
        if self.state != "completed":
            return len(self.orders) <= 1
        expected = [f"SO{self.orders[0]}-{n}" for n in range(1, self.lines + 1)] if len(self.orders) == 1 else None
        return expected is not None and sorted(self.cells) == sorted(expected)


@dataclass
class Rig:
    """A running stack, its tokens, and the deals handed out to scenarios (each deal used once)."""

    stack: Stack
    #: A token the process API accepts (the gateway's exchange for the `demo` client).
    process_token: str
    #: A consumer token for calls through the gateway.
    consumer_token: str
    system_token: str
    pool: list[dict[str, Any]] = field(default_factory=list)

    def url(self, name: str) -> str:
        return self.stack.url(name)

    @property
    def instances(self) -> list[ManagedProcess]:
        """The process-API instances (alive or not), in start order."""
        return [p for p in self.stack.processes if p.spec.name == "process"]

    def take(self, count: int) -> list[dict[str, Any]]:
        """`count` not-yet-used seeded opportunities with lines in a mapped region."""
        if count > len(self.pool):
            raise RuntimeError(f"the sandbox has {len(self.pool)} unused clean opportunities, {count} wanted")
        taken, self.pool = self.pool[:count], self.pool[count:]
        return taken

    def admin(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(headers={"Authorization": f"Bearer {self.system_token}"}, timeout=30)

    def process_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(headers={"Authorization": f"Bearer {self.process_token}"}, timeout=30)

    def gateway_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url("gateway"), headers={"Authorization": f"Bearer {self.consumer_token}"}, timeout=30
        )

    async def approve(self, ids: list[str]) -> None:
        """Close-win the opportunities in the Salesforce sandbox, as a sales manager would."""
        async with self.admin() as admin:
            url = f"{self.url('salesforce-sandbox')}/__admin/opportunities/close-won"
            (await admin.post(url, json={"ids": ids})).raise_for_status()

    @contextlib.asynccontextmanager
    async def erp_user(self) -> Any:
        """An ERP user approving every new `SF-` sales order in NetSuite while the block runs."""
        stop = asyncio.Event()

        async def work(admin: httpx.AsyncClient) -> None:
            url = f"{self.url('netsuite-sandbox')}/__admin/sales-orders/approve-pending"
            while not stop.is_set():
                with contextlib.suppress(httpx.HTTPError):
                    await admin.post(url, json={"external_id_prefix": "SF-", "limit": 5000})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.2)

        async with self.admin() as admin:
            task = asyncio.create_task(work(admin))
            try:
                yield
            finally:
                stop.set()
                await task

    async def runs(self, client: httpx.AsyncClient, ids: list[str]) -> dict[str, dict[str, Any]]:
        """The runs of these opportunities that exist, read from whichever instance answers."""
        found: dict[str, dict[str, Any]] = {}
        for proc in self.instances:
            missing = [o for o in ids if o not in found]
            if not missing or proc.popen.poll() is not None:
                continue
            try:
                replies = await asyncio.gather(*(client.get(f"{proc.url}{RUNS}/q2c-{o}") for o in missing))
            except httpx.TransportError:
                continue
            found |= {o: r.json() for o, r in zip(missing, replies, strict=True) if r.status_code == 200}
        return found

    async def absent(self, ids: list[str], within: float = 15.0) -> list[str]:
        """The opportunities whose run an instance says does not exist (404). An instance that cannot
        answer yet (503 while it reconnects, not started) is asked again, for up to `within` s."""
        unknown, gone = list(ids), []
        deadline = time.monotonic() + within
        async with self.process_client() as client:
            while unknown and time.monotonic() < deadline:
                for proc in [p for p in self.instances if p.popen.poll() is None]:
                    try:
                        replies = await asyncio.gather(*(client.get(f"{proc.url}{RUNS}/q2c-{o}") for o in unknown))
                    except httpx.TransportError:
                        continue
                    status = dict(zip(unknown, (r.status_code for r in replies), strict=True))
                    gone += [o for o in unknown if status[o] == 404]
                    unknown = [o for o in unknown if status[o] not in (200, 404)]
                    break
                if unknown:
                    await asyncio.sleep(0.5)
        return sorted(gone + unknown)

    async def settle(self, ids: list[str], within: float) -> tuple[dict[str, dict[str, Any]], float]:
        """Poll until every run is terminal or `within` seconds passed; the runs and the seconds it took."""
        started = time.monotonic()
        runs: dict[str, dict[str, Any]] = {}
        async with self.process_client() as client:
            while time.monotonic() - started < within:
                runs = await self.runs(client, ids)
                if len(runs) == len(ids) and all(r["state"] in TERMINAL_STATES for r in runs.values()):
                    break
                await asyncio.sleep(0.5)
        return runs, time.monotonic() - started

    async def outcomes(self, deals: list[dict[str, Any]], runs: Mapping[str, dict[str, Any]]) -> list[DealOutcome]:
        """Each deal's run state and what it left in NetSuite (orders by external id) and Anaplan (cells)."""
        found: list[DealOutcome] = []
        async with self.admin() as admin:
            netsuite, anaplan = self.url("netsuite-sandbox"), self.url("anaplan-sandbox")
            cells: list[str] = []
            for entity in {str(r.get("legal_entity")) for r in runs.values() if r.get("legal_entity")}:
                body = (await admin.get(f"{anaplan}/__admin/cells", params={"entity": entity})).raise_for_status()
                cells += [str(c["booking_code"]) for c in body.json()["cells"]]
            for deal in deals:
                opp = str(deal["id"])
                listed = await admin.get(f"{netsuite}/__admin/sales-orders", params={"externalId": f"SF-{opp}"})
                orders = [str(o["id"]) for o in listed.raise_for_status().json()["items"]]
                run = runs.get(opp, {})
                mine = [c for c in cells if any(c.startswith(f"SO{o}-") for o in orders)]
                found.append(
                    DealOutcome(
                        opportunity_id=opp,
                        state=run.get("state"),
                        exception_id=run.get("exception_id"),
                        orders=orders,
                        cells=mine,
                        lines=len(deal["lines"]),
                    )
                )
        return found


#: The first ERP accounting period the sandbox seeds open.
FIRST_OPEN_PERIOD = "2026-11"


def _clean_opportunities(crm: str, token: str, need: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        while len(found) < need:
            params = {"won": "false", "limit": "200"} | ({"cursor": cursor} if cursor else {})
            body = client.get(f"{crm}/v1/opportunities", params=params).raise_for_status().json()
            found += [
                o
                for o in body["items"]
                # Dated in an open ERP period: a deal of a closed period stops with `period_closed`.
                if o["lines"] and o["region"] in MAPPED_REGIONS and o["close_date"][:7] >= FIRST_OPEN_PERIOD
            ]
            cursor = body["next_cursor"]
            if not cursor:
                break
    return found[:need]


@contextlib.contextmanager
def open_rig(data_dir: Path, *, deals: int, env: Mapping[str, str] | None = None) -> Iterator[Rig]:
    """The stack with two process-API instances and at least `deals` clean seeded opportunities."""
    ports = dict(zip((spec.name for spec in SERVICES), free_ports(len(SERVICES)), strict=True))
    settings = {
        # Enough seeded opportunities: the seed has about 60 clean ones in open periods per scale unit.
        "FIG_SCALE": str(max(1, math.ceil(deals * 2 / 60))),
        "FIG_LOG_LEVEL": "WARNING",
        "FIG_CONSUME_CRM_EVENTS": "false",
        **(env or {}),
    }
    with Stack(data_dir, ports=ports, extra_env=settings) as stack:
        stack.add_instance("process", free_port(), "process-2")
        idp, creds = stack.url("idp"), stack.credentials
        consumer = fetch_token(idp, "demo", creds.client_secret("demo"))
        rig = Rig(
            stack=stack,
            process_token=exchange_token(idp, consumer, actor=("gateway", creds.client_secret("gateway"))),
            consumer_token=consumer,
            system_token=fetch_token(idp, "process-api", creds.client_secret("process-api"), scope="crm:read"),
        )
        rig.pool = _clean_opportunities(stack.url("crm"), rig.system_token, deals)
        yield rig
