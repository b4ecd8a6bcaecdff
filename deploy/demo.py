"""`fig demo`: drive one opportunity from approval to forecast through the gateway, print the trail."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import msgspec
from rich.console import Console

from servicekit.http import trusting

__all__ = ["DEMO_OPPORTUNITY", "DemoError", "DemoUrls", "exchange_token", "fetch_token", "run_demo"]

DEMO_OPPORTUNITY = "0068d00000DEMO1AAA"


class DemoError(RuntimeError):
    """The demo could not finish; the message says at which step and why."""


class DemoUrls(msgspec.Struct, kw_only=True, frozen=True):
    gateway: str = "http://127.0.0.1:8000"
    idp: str = "http://127.0.0.1:8400"
    salesforce: str = "http://127.0.0.1:8301"
    netsuite: str = "http://127.0.0.1:8302"
    anaplan: str = "http://127.0.0.1:8303"
    #: The local CA's certificate when the sandboxes serve HTTPS (`fig up` prints its path).
    ca_bundle: str | None = None


def fetch_token(idp: str, client_id: str, secret: str, scope: str | None = None) -> str:
    """A client-credentials token from the identity provider (what `fig token` prints)."""
    form = {"grant_type": "client_credentials"} | ({"scope": scope} if scope else {})
    response = httpx.post(f"{idp}/oauth2/token", data=form, auth=(client_id, secret), timeout=10)
    if response.status_code != 200:
        raise DemoError(f"identity provider refused {client_id!r}: {response.status_code} {response.text[:300]}")
    return str(response.json()["access_token"])


def exchange_token(idp: str, token: str, *, audience: str = "fig-process", actor: tuple[str, str]) -> str:
    """`token` exchanged (RFC 8693) by client `actor` = (id, secret) for one addressed to `audience`:
    what the gateway sends the process API. For tools that read the process API directly on a
    consumer's behalf (the workflow benchmark); consumers themselves go through the gateway."""
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": token,
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "audience": audience,
    }
    response = httpx.post(f"{idp}/oauth2/token", data=form, auth=actor, timeout=10)
    if response.status_code != 200:
        raise DemoError(f"identity provider refused the exchange: {response.status_code} {response.text[:300]}")
    return str(response.json()["access_token"])


def _expect(response: httpx.Response, *ok: int, step: str) -> dict[str, Any]:
    if response.status_code not in ok:
        raise DemoError(f"{step}: {response.status_code} {response.text[:500]}")
    body: dict[str, Any] = response.json() if response.content else {}
    return body


def _wait_for(client: httpx.Client, url: str, done: set[str], timeout: float, step: str) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = _expect(client.get(url), 200, step=step)
        if run.get("state") in done or run.get("status") == "failed":
            return run
        if time.monotonic() > deadline:
            raise DemoError(f"{step}: run still {run.get('state')} after {timeout:.0f}s")
        time.sleep(0.3)


def run_demo(
    urls: DemoUrls, console: Console | None = None, *, client_secret: str, timeout: float = 60.0
) -> dict[str, Any]:
    """Approve the demo opportunity in CRM, start quote-to-cash through the gateway, book the ERP
    order, and wait for the forecast commit. Returns the final run.

    `client_secret` is the `demo` client's generated secret (`Stack.credentials`, or the
    `credentials.json` a local `fig up` wrote)."""
    out = console or Console()
    correlation = f"demo-{uuid.uuid4().hex[:12]}"
    token = fetch_token(urls.idp, "demo", client_secret)
    headers = {"Authorization": f"Bearer {token}", "X-Correlation-ID": correlation}
    out.print(f"[bold]1.[/] token for client [cyan]demo[/] from {urls.idp}")
    admin = httpx.Client(timeout=30, verify=trusting(urls.ca_bundle) or True)
    with admin, httpx.Client(base_url=urls.gateway, headers=headers, timeout=30) as api:
        _expect(
            admin.post(f"{urls.salesforce}/__admin/opportunities/{DEMO_OPPORTUNITY}/close-won"),
            200,
            204,
            step="approve the opportunity in the Salesforce sandbox",
        )
        out.print(f"[bold]2.[/] opportunity [cyan]{DEMO_OPPORTUNITY}[/] moved to Closed Won + Approved in Salesforce")
        started = api.post(
            "/v1/quote-to-cash/runs",
            json={"opportunity_id": DEMO_OPPORTUNITY},
            # Financially material: the gateway requires one key per intended start.
            headers={"Idempotency-Key": f"demo-start-{correlation}"},
        )
        run = _expect(started, 200, 202, step="start the quote-to-cash run through the gateway")
        run_url = f"/v1/quote-to-cash/runs/{run['id']}"
        verb = "started" if started.status_code == 202 else "already exists (idempotent start)"
        out.print(f"[bold]3.[/] run [cyan]{run['id']}[/] {verb}; correlation id [cyan]{correlation}[/]")
        run = _wait_for(
            api,
            run_url,
            {"order_created", "order_booked", "forecast_committed", "completed"},
            timeout,
            step="wait for the ERP order",
        )
        if run.get("status") == "failed":
            raise DemoError(f"run failed: {run.get('error')}")
        order_id = run.get("erp_order_id")
        out.print(f"[bold]4.[/] ERP sales order [cyan]{order_id}[/] (external id {run.get('erp_order_external_id')})")
        if run["state"] == "order_created":
            _expect(
                admin.post(f"{urls.netsuite}/__admin/sales-orders/{order_id}/approve"),
                200,
                204,
                step="approve the order in the NetSuite sandbox",
            )
            out.print("[bold]5.[/] order approved in NetSuite (status A -> B); waiting for the booking event")
        run = _wait_for(api, run_url, {"completed"}, timeout, step="wait for the forecast commit")
        if run.get("status") == "failed":
            raise DemoError(f"run failed: {run.get('error')}")
        cells = admin.get(f"{urls.anaplan}/__admin/cells", params={"entity": run.get("legal_entity") or "DE01"})
    _print_trail(out, run, correlation, cells.json() if cells.status_code == 200 else None)
    return run


def _print_trail(out: Console, run: dict[str, Any], correlation: str, cells: Any) -> None:
    out.print(f"[bold]gates of run {run['id']}[/]")
    for gate in run.get("gates", []):
        at = str(gate.get("at", ""))[11:23]
        out.print(f"  [green]{gate.get('gate', ''):<19}[/] {at}  {gate.get('actor', '')}")
        if gate.get("detail"):
            out.print(f"      {gate['detail']}")
    planning = run.get("planning") or {}
    out.print(f"state            [green]{run.get('state')}[/]")
    out.print(f"legal entity     {run.get('legal_entity')}")
    out.print(f"ERP customer     {run.get('erp_customer_id')}")
    out.print(f"ERP order        {run.get('erp_order_id')} ({run.get('erp_order_external_id')})")
    out.print(
        f"planning import  task {planning.get('task_id')}, successful={planning.get('successful')}, "
        f"rows loaded={planning.get('rows_loaded')}"
    )
    out.print(f"correlation id   {correlation} (run created under {run.get('correlation_id')})")
    if isinstance(cells, dict | list):
        rows = cells.get("cells", cells) if isinstance(cells, dict) else cells
        mine = [
            c
            for c in rows
            if isinstance(c, dict) and str(c.get("booking_code", "")).startswith(f"SO{run.get('erp_order_id')}-")
        ]
        if mine:
            out.print(
                "planning cells   "
                + "; ".join(
                    f"{c.get('booking_code')} {c.get('product') or c.get('product_code')} {c.get('period')} "
                    f"{c.get('amount')} {c.get('currency', '')}"
                    for c in mine
                )
            )
