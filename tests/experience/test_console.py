"""The console in a real headless Chromium, as finance operations people use it.

The whole stack runs (`fig up`'s processes, the console included); people sign in at the dev IdP
through the sign-in form, and everything they see comes from the gateway with their own token.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser

from deploy.stack import Stack
from experience.pages.overview import FIGURES
from tests.experience.conftest import Person, sign_in
from tests.experience.stack import Seeded, wait_until

pytestmark = pytest.mark.e2e


def _figure(text: str) -> Decimal | None:
    return None if text == "n/a" else Decimal(text)


def test_a_forged_form_without_the_csrf_token_changes_nothing(ana: Person, seeded: Seeded) -> None:
    exception = seeded.exception_of("DE01")
    before = seeded.api.get(f"/v1/exceptions/{exception['id']}").json()
    ana.open("/exceptions")  # signed in: the session cookie goes with the forged request
    path = f"{ana.console}/exceptions/{exception['id']}/assign"
    forged = ana.context.request.post(path, form={"owner_team": "attacker"})
    assert forged.status == 403
    wrong = ana.context.request.post(path, form={"owner_team": "attacker", "csrf_token": "guessed"})
    assert wrong.status == 403
    other_site = ana.context.request.post(
        path, form={"owner_team": "attacker"}, headers={"Origin": "https://evil.example"}
    )
    assert other_site.status == 403
    after = seeded.api.get(f"/v1/exceptions/{exception['id']}").json()
    assert after["owner_team"] == before["owner_team"]
    assert after["history"] == before["history"]


HOSTILE = '<script>window.__pwned = 1</script><img src="x" onerror="window.__pwned = 1">'


def test_script_in_a_note_and_a_mapping_proposal_is_shown_as_text(ana: Person, seeded: Seeded) -> None:
    exception = seeded.exception_of("DE01")
    noted = seeded.api.post(
        f"/v1/exceptions/{exception['id']}/assign",
        json={"owner_team": "finance-master-data", "note": HOSTILE},
        headers={"Idempotency-Key": "console-hostile-note"},
    )
    assert noted.status_code == 200, noted.text
    mapping = seeded.api.get("/v1/mappings/default").json()["mapping"]
    regions = mapping["regions"]
    regions["DACH"] = {**regions["DACH"], "currencies": [*regions["DACH"]["currencies"], "CHF"]}
    proposed = seeded.api.post(
        "/v1/mappings/default/proposals",
        json={"description": HOSTILE, "products": mapping["products"], "regions": regions},
        headers={"Idempotency-Key": "console-hostile-proposal"},
    )
    assert proposed.status_code in (200, 201), proposed.text

    page = ana.open(f"/exceptions/{exception['id']}")
    assert HOSTILE in page.locator("table").filter(has_text="Actions on this exception").inner_text()
    assert page.evaluate("window.__pwned") is None
    page = ana.open("/controls")
    assert HOSTILE in page.locator(f'tr[data-proposal="{proposed.json()["id"]}"]').inner_text()
    assert page.evaluate("window.__pwned") is None
    ana.screenshot("controls")


def test_the_de01_analyst_sees_the_apis_figures_opens_an_exception_and_retries_it(
    ana: Person, seeded: Seeded, stack: Stack
) -> None:
    page = ana.open("/")
    assert page.get_by_test_id("person").inner_text() == "Ana Keller"
    panels = page.locator("section.panel")
    assert panels.count() == 1
    assert panels.first.get_attribute("data-entity") == "DE01"
    expected = seeded.api.get("/v1/ops/summary", params={"legal_entity": "DE01"}).json()
    for key, _label in FIGURES:
        shown = page.locator(f'[data-entity="DE01"] [data-figure="{key}"]').inner_text()
        want = expected[key]
        assert _figure(shown) == (None if want is None else Decimal(str(want))), key
    assert expected["open_exceptions"] >= 1
    trend = page.locator('[data-entity="DE01"] figure.chart', has_text="Error rate by day")
    assert (trend.locator("svg text").first.text_content() or "").endswith(
        ("run)", "runs)")
    )  # one row per day, oldest first
    ana.screenshot("overview")

    exception = seeded.exception_of("DE01")
    page = ana.open("/exceptions?entity=DE01&status=open")
    ana.screenshot("exceptions")
    page.get_by_role("link", name=exception["id"]).click()
    assert page.locator('[data-field="status"]').inner_text() == "open"
    assert "USD" in page.locator('[data-field="detail"]').inner_text()
    ana.screenshot("exception")

    # The analyst retries from the console (the deal is still in USD, so the run parks again) ...
    retry = page.locator("form.action", has=page.get_by_role("group", name="Retry"))
    retry.get_by_label("Note (optional)").fill("asked sales to correct the currency")
    retry.get_by_role("button", name="Retry").click()
    assert page.get_by_role("status").inner_text() == "Retry requested."
    history = page.locator("table").filter(has_text="Actions on this exception").inner_text()
    assert "open → retrying" in history
    assert "asked sales to correct the currency" in history
    # ... then sales corrects it in Salesforce: the CRM amendment reaches the run, which continues.
    wait_until(
        lambda: seeded.api.get(f"/v1/exceptions/{exception['id']}").json()["status"] == "open",
        60,
        "the retried run parked again on the same exception",
    )
    seeded.sf.patch("Opportunity", seeded.deals["DE01"]["id"], {"CurrencyIsoCode": "EUR"})

    run_id = exception["run_id"]

    def run() -> dict[str, Any]:
        body: dict[str, Any] = seeded.api.get(f"/v1/quote-to-cash/runs/{run_id}").json()
        return body

    wait_until(lambda: run().get("erp_order_id") is not None, 60, "the retried run posted its order")
    # An ERP user approves the order; the booking event completes the run.
    approved = httpx.post(f"{stack.url('netsuite-sandbox')}/__admin/sales-orders/{run()['erp_order_id']}/approve")
    assert approved.status_code == 200, approved.text
    wait_until(lambda: run()["state"] == "completed", 60, "the retried run completed")
    page = ana.open(f"/runs/{run_id}")
    assert page.locator('[data-field="state"]').inner_text() == "completed"
    assert page.locator('[data-field="erp_order_id"]').inner_text() == run()["erp_order_id"]
    gates = page.locator("table").filter(has_text="Every gate the run passed").inner_text()
    assert "order_booked" in gates
    # The trace to open in the tracing tool, and how long each step took.
    assert page.locator('[data-field="trace_id"]').inner_text() == run()["trace_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", run()["trace_id"])
    assert re.fullmatch(r"\d+(\.\d)? (ms|s|min)", page.locator('[data-field="elapsed"]').nth(1).inner_text())
    ana.screenshot("run")


def test_the_us01_analyst_sees_no_de01_data(sam: Person, seeded: Seeded) -> None:
    page = sam.open("/")
    assert sorted(str(p.get_attribute("data-entity")) for p in page.locator("section.panel").all()) == ["GB01", "US01"]
    page = sam.open("/?entity=DE01")
    assert page.locator("section.panel").count() == 0

    de01, us01 = seeded.exception_of("DE01"), seeded.exception_of("US01")
    page = sam.open("/exceptions")
    listed = page.locator("tr[data-exception]").evaluate_all("rows => rows.map(r => r.dataset.exception)")
    assert us01["id"] in listed
    assert de01["id"] not in listed
    page = sam.open(f"/exceptions/{de01['id']}")
    assert "404" in page.get_by_role("alert").inner_text()
    assert page.locator('[data-field="detail"]').count() == 0  # nothing of the record is shown
    assert de01["detail"] not in page.content()
    page = sam.open(f"/runs/{de01['run_id']}")
    assert "404" in page.get_by_role("alert").inner_text()


def test_a_bulk_retry_of_the_filtered_queue_needs_a_confirmation(sam: Person, seeded: Seeded) -> None:
    us01 = seeded.exception_of("US01")
    page = sam.open("/exceptions?entity=US01&status=open")
    form = page.get_by_role("form", name="Retry the open exceptions shown")
    token = str(form.locator('input[name="csrf_token"]').get_attribute("value"))
    unconfirmed = sam.context.request.post(
        f"{sam.console}/exceptions/bulk-retry", form={"csrf_token": token, "exception_id": us01["id"]}
    )
    assert unconfirmed.status == 400
    assert seeded.api.get(f"/v1/exceptions/{us01['id']}").json()["history"] == us01["history"]

    page.once("dialog", lambda dialog: dialog.accept())  # the page asks once more before sending
    form.get_by_label("Note for all").fill("GBP booking requested from finance")
    form.get_by_label("Yes, retry these 1 open exception(s)").check()
    form.get_by_role("button", name="Retry all shown").click()
    assert "retry requested" in page.locator("table").inner_text()
    history = seeded.api.get(f"/v1/exceptions/{us01['id']}").json()["history"]
    assert [h["action"] for h in history].count("retry") == 1
    assert any(h.get("note") == "GBP booking requested from finance" for h in history)
    sam.screenshot("bulk-retry")


def test_changes_proposed_by_one_person_are_approved_by_another_never_by_their_author(
    browser: Browser, stack: Stack, seeded: Seeded, sam: Person
) -> None:
    us01 = seeded.exception_of("US01")
    page = sam.open(f"/exceptions/{us01['id']}")
    form = page.locator("form.action", has=page.get_by_role("group", name="Propose an outcome"))
    form.get_by_label("Outcome").select_option("dead_letter")
    form.get_by_label("Note").fill("GB pound deal booked manually in the ERP")
    form.get_by_role("button", name="Propose").click()
    assert page.get_by_role("status").inner_text() == "Outcome proposed: a second person decides it."
    assert seeded.api.get(f"/v1/exceptions/{us01['id']}").json()["status"] == "open"

    before = seeded.api.get("/v1/mappings/default").json()["number"]
    ivy = sign_in(browser, stack, "ivy.admin")
    chris = sign_in(browser, stack, "chris.controller")
    try:
        page = ivy.open("/controls")
        form = page.get_by_role("form", name="Propose a region change")
        form.get_by_label("Region").select_option("DACH")
        form.get_by_label("Currencies (comma-separated)").fill("EUR, CHF")
        form.get_by_label("Why").fill("Swiss deals are booked by DE01")
        form.get_by_role("button", name="Propose").click()
        assert page.get_by_role("status").inner_text() == "Change proposed."
        mine = page.locator("tr[data-proposal]", has_text="Swiss deals are booked by DE01")
        proposal = str(mine.get_attribute("data-proposal"))
        assert "ivy.admin" in mine.inner_text()

        page = chris.open("/controls")
        page.get_by_role("button", name=f"Approve {proposal}").click()
        assert page.get_by_role("status").inner_text() == "Proposal approved."
        assert seeded.api.get("/v1/mappings/default").json()["number"] == before + 1
        # Approving posts money outside the normal flow: the same form sent twice (a double click)
        # is one approval at the gateway (the form's submission id is the Idempotency-Key).
        outcome = page.locator("tr[data-proposal]", has_text="GB pound deal booked manually in the ERP")
        approve = outcome.locator("form").filter(has=page.get_by_role("button", name="Approve"))
        sent: dict[str, str | float | bool] = {
            name: str(approve.locator(f'input[name="{name}"]').get_attribute("value"))
            for name in ("csrf_token", "submission")
        }
        target = f"{chris.console}{approve.get_attribute('action')}"
        for _ in range(2):
            answer = chris.context.request.post(target, form=sent)
            assert answer.status == 200
            assert "Proposal approved." in answer.text()
        assert seeded.api.get(f"/v1/exceptions/{us01['id']}").json()["status"] == "dead_lettered"
        chris.screenshot("controls-approved")

        # The controller's own proposal: the API refuses the approval, the page says why.
        form = page.get_by_role("form", name="Propose a region change")
        form.get_by_label("Region").select_option("DACH")
        form.get_by_label("Currencies (comma-separated)").fill("EUR")
        form.get_by_label("Why").fill("Back to euros only")
        form.get_by_role("button", name="Propose").click()
        own = str(page.locator("tr[data-proposal]", has_text="Back to euros only").get_attribute("data-proposal"))
        page.get_by_role("button", name=f"Approve {own}").click()
        assert "Approve refused" in page.get_by_role("alert").inner_text()
        assert seeded.api.get("/v1/mappings/default").json()["number"] == before + 1
        assert seeded.api.get(f"/v1/proposals/{own}").json()["status"] == "pending"
    finally:
        ivy.context.close()
        chris.context.close()


def test_a_controller_reconciles_an_entity_and_period_and_opens_the_report(
    browser: Browser, stack: Stack, seeded: Seeded, ana: Person
) -> None:
    assert ana.open("/reconciliations").get_by_role("button", name="Reconcile").count() == 0  # no recon:write
    chris = sign_in(browser, stack, "chris.controller")
    try:
        page = chris.open("/reconciliations")
        page.get_by_label("Entity").select_option("DE01")
        page.get_by_label("Period (YYYY-MM)").fill(datetime.now(UTC).strftime("%Y-%m"))
        page.get_by_role("button", name="Reconcile").click()
        report = page.get_by_role("heading", level=2).inner_text().removeprefix("Report ")
        stored = seeded.api.get(f"/v1/reconciliations/{report}").json()
        assert stored["legal_entity"] == "DE01"
        # The stack's Committed Bookings version is the seed's draft: its figures are not reported.
        assert stored["planning_reported"] is False
        facts = page.locator("dl.facts").inner_text()
        assert "not reported: version Committed Bookings is not published" in facts
        breaks = page.locator("table").filter(has_text="Breaks").locator("tbody tr")
        assert breaks.count() == max(1, len(stored["breaks"]))
        for item in stored["breaks"]:
            if item.get("exception_id"):
                assert page.get_by_role("link", name=item["exception_id"]).count() == 1
        chris.screenshot("reconciliation-report")
    finally:
        chris.context.close()


PAGES = (
    "/",
    "/exceptions",
    "/runs",
    "/reconciliations",
    "/controls",
    "/controls?from_version=1&to_version=1",
    "/audit",
)


def test_every_page_has_no_serious_or_critical_accessibility_violation(ana: Person, seeded: Seeded) -> None:
    from tests.experience.conftest import AXE

    source = AXE.read_text()
    exception = seeded.exception_of("DE01")
    for path in (*PAGES, f"/exceptions/{exception['id']}", f"/runs/{exception['run_id']}"):
        page = ana.open(path)
        # Evaluated through the DevTools protocol, so the console's CSP (scripts from itself only) stays on.
        page.evaluate(source)
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        bad = [
            (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert not bad, f"{path}: {bad}"
        name = path.strip("/").replace("/", "-") or "overview"
        if path in ("/runs", "/reconciliations", "/audit"):
            ana.screenshot(name)


def test_signing_out_ends_the_session_here_and_at_the_idp(browser: Browser, stack: Stack, seeded: Seeded) -> None:
    person = sign_in(browser, stack, "ana.de")
    try:
        cookie = next(c for c in person.context.cookies() if c["name"] == "fig_console")
        assert cookie["httpOnly"]
        assert cookie["sameSite"] == "Lax"
        person.page.get_by_role("button", name="Sign out").click()
        person.page.wait_for_url(f"{stack.url('idp')}/**")
        # The old cookie is worth nothing now: the session is gone from Redis.
        replay = person.context.request.get(
            f"{person.console}/exceptions", headers={"Cookie": f"fig_console={cookie['value']}"}, max_redirects=0
        )
        assert replay.status == 303
        assert replay.headers["location"].startswith("/login")
    finally:
        person.context.close()
