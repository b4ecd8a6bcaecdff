"""Legal-entity segregation, operation by operation, from the published OpenAPI documents.

A caller cleared only for DE01 (with every scope) calls each published operation against US01's
resources, seeded for real (runs of every workflow, exceptions, a reconciliation). Each answer must
hold no byte of US01 data the caller did not send itself, and Redis and the system APIs must be
unchanged afterwards. Every operation of every published document needs an entry in `CASES` (how
to exercise it against US01) or in `ENTITY_FREE` (why it holds no entity's data): a new operation
without either fails `test_every_published_operation_has_an_entity_rule`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import msgspec

from contracts import PERIOD_CLOSED, AccountingPeriod, Opportunity, new_event
from contracts.streams import ERP_EVENTS
from process_apis.controls import load_mapping_set, load_rule_set
from servicekit import RedisClient
from servicekit.jose import normalize_token
from tests.process_apis.fake_systems import Systems
from tests.process_apis.fakes import opportunity
from tests.process_apis.support import RUNS, process_api, settings_for, until
from tests.tokens import TestIssuer

DOCUMENTS = Path(__file__).parents[2] / "contracts" / "openapi"
SCOPES = (
    "q2c:read", "q2c:write", "exceptions:read", "exceptions:write", "recon:read", "recon:write",
    "controls:read", "controls:write", "ops:read", "sync:write", "approvals:read", "approvals:write", "audit:read",
)  # fmt: skip


def _deal(opportunity_id: str, region: str, line: tuple[str, str, str], amount: str | None = None) -> Opportunity:
    """An approved deal of the US01 (NA) or the DE01 (DACH) demo account."""
    if region == "NA":
        return opportunity(opportunity_id, region=region, currency="USD", lines=(line,), amount=amount,
                           account_id="0018d00000USACCTAA", account_name="Hudson Ledger Corp")  # fmt: skip
    return opportunity(opportunity_id, region=region, currency="EUR", lines=(line,), amount=amount,
                       account_id="0018d00000DEACCTAA", account_name="Rheinwerk GmbH")  # fmt: skip


US_WAIT = _deal("0068d00000USWAITAA", "NA", ("FIG-PLAT", "3", "2777.00"))
US_BAD = _deal("0068d00000USBADAAA", "NA", ("FIG-SERV", "1", "9131.00"), amount="1.00")
US_NEW = _deal("0068d00000USNEWAAA", "NA", ("FIG-SUPP", "1", "4242.00"))
DE_WAIT = _deal("0068d00000DEWAITAA", "DACH", ("FIG-PLAT", "2", "1200.00"))
DE_BAD = _deal("0068d00000DEBADAAA", "DACH", ("FIG-SUPP", "1", "2400.00"), amount="1.00")


@dataclass
class Seeded:
    """The ids of what the seeding created."""

    us_run: str = f"q2c-{US_WAIT.id}"
    us_failed_run: str = f"q2c-{US_BAD.id}"
    us_exception: str = ""
    us_actuals_run: str = "a2p-US01-2026-11"
    us_actuals_exception: str = ""
    us_report: str = ""
    us_proposal: str = ""
    de_exception: str = ""
    de_proposal: str = ""
    us_dead_letter: str = ""
    de_dead_letter: str = ""

    def markers(self) -> list[str]:
        """Strings that only US01 data contains."""
        return [
            "US01", US_WAIT.id, US_BAD.id, US_NEW.id, "0018d00000USACCTAA", "Hudson Ledger", "USD",
            "2777.00", "8331.00", "9131.00", "4242.00",
            self.us_exception, self.us_actuals_exception, self.us_report, self.us_proposal, self.us_dead_letter,
        ]  # fmt: skip


Params = Callable[[Seeded], dict[str, str]]


def _none(_: Seeded) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class Call:
    """One way to exercise an operation as the DE01 caller.

    `expect`: 404 (another entity's resource, hidden), 403 (the request names US01) or 200/201
    (a list or figures: `check` then says what must and must not be in it). `exists`: the path
    that shows, for an unrestricted caller, that the targeted US01 resource is real.
    """

    expect: int
    path: Params = _none
    query: Params = _none
    body: Any = None
    exists: Callable[[Seeded], str] | None = None
    check: Callable[[Any, Seeded], None] | None = None


def _only_de01_exceptions(page: Any, seeded: Seeded) -> None:
    ids = [item["id"] for item in page["items"]]
    assert seeded.de_exception in ids
    assert {item["legal_entity"] for item in page["items"]} == {"DE01"}


def _de01_figures(summary: Any, seeded: Seeded) -> None:
    assert summary["legal_entity"] is None
    assert summary["open_exceptions"] == 1  # DE01's one; US01 has two
    assert summary["orders_created"] == 1
    assert summary["orders_awaiting_booking"] == 1
    assert sum(summary["exceptions_by_reason"].values()) == 1
    assert summary["reconciliation_exceptions_by_entity"] == {}
    assert summary["policy_violations_by_flow"] == {}


def _mapping_body(**regions: Any) -> dict[str, Any]:
    """The shipped mapping set as a PUT body, with `regions` replaced."""
    shipped = msgspec.to_builtins(load_mapping_set())
    return {"regions": {**shipped["regions"], **regions}, "products": shipped["products"]}


#: NA (US01) may also sell in CAD.
_NA_REMAPPED = _mapping_body(NA={"legal_entity": "US01", "subsidiary_id": "1", "currencies": ["USD", "CAD"]})
#: FIG-PLAT is sold as another ERP item: every entity's runs change.
_PRODUCT_CHANGED = {
    **_mapping_body(),
    "products": {
        **_mapping_body()["products"],
        "FIG-PLAT": {"item_id": "999", "revenue_category": "subscription"},
    },
}


#: A rule set version (it applies to every entity, so a DE01-only caller may not propose one).
_RULES = {"rules": msgspec.to_builtins(load_rule_set("quote-to-cash").rules)}


def _run(seeded: Seeded) -> dict[str, str]:
    return {"run_id": seeded.us_run}


def _failed_run(seeded: Seeded) -> dict[str, str]:
    return {"run_id": seeded.us_failed_run}


def _exception(seeded: Seeded) -> dict[str, str]:
    return {"exception_id": seeded.us_exception}


def _exception_exists(seeded: Seeded) -> str:
    return f"/v1/exceptions/{seeded.us_exception}"


def _proposal(seeded: Seeded) -> dict[str, str]:
    return {"proposal_id": seeded.us_proposal}


def _proposal_exists(seeded: Seeded) -> str:
    return f"/v1/proposals/{seeded.us_proposal}"


def _only_de01_proposals(page: Any, seeded: Seeded) -> None:
    assert [item["id"] for item in page["items"]] == [seeded.de_proposal]


def _only_de01_dead_letters(page: Any, seeded: Seeded) -> None:
    assert [item["id"] for item in page["items"]] == [seeded.de_dead_letter]


def _us_dead_letter(seeded: Seeded) -> dict[str, str]:
    return {"stream": "erp", "entry_id": seeded.us_dead_letter}


def _only_de01_entries(page: Any, seeded: Seeded) -> None:
    assert {item["legal_entity"] for item in page["items"]} <= {"DE01"}


#: How each entity-owned operation is exercised against US01 by the DE01 caller.
CASES: dict[str, list[Call]] = {
    "startQuoteToCashRun": [
        Call(404, body={"opportunity_id": US_WAIT.id}, exists=lambda s: f"{RUNS}/{s.us_run}"),
        Call(404, body={"opportunity_id": US_NEW.id}),  # approved, no run yet: none may be created
    ],
    "startQuoteToCashRunV2": [
        Call(404, body={"opportunity_id": US_WAIT.id}, exists=lambda s: f"{RUNS}/{s.us_run}"),
        Call(404, body={"opportunity_id": US_NEW.id}),
    ],
    "getQuoteToCashRun": [Call(404, path=_run), Call(404, path=_failed_run)],
    "getQuoteToCashRunV2": [Call(404, path=_run)],
    "replayRun": [Call(404, path=_failed_run, body={"note": "x"}, exists=lambda s: f"{RUNS}/{s.us_failed_run}")],
    "abandonRun": [
        Call(404, path=_failed_run, body={"note": "x"}, exists=lambda s: f"{RUNS}/{s.us_failed_run}"),
        Call(404, path=_run, body={"note": "x"}, exists=lambda s: f"{RUNS}/{s.us_run}"),
    ],
    "listExceptions": [
        Call(200, check=_only_de01_exceptions),
        Call(200, query=lambda s: {"status": "open"}, check=_only_de01_exceptions),
        Call(403, query=lambda s: {"entity": "US01"}),
    ],
    "getException": [
        Call(404, path=_exception),
        Call(404, path=lambda s: {"exception_id": s.us_actuals_exception}),
    ],
    "retryException": [
        Call(404, path=_exception, body={"note": "x"}, exists=_exception_exists),
        Call(
            404,
            path=lambda s: {"exception_id": s.us_actuals_exception},
            body={},
            exists=lambda s: f"/v1/exceptions/{s.us_actuals_exception}",
        ),
    ],
    "resolveException": [Call(404, path=_exception, body={"note": "written off"}, exists=_exception_exists)],
    "assignException": [
        Call(404, path=_exception, body={"owner_team": "accounting"}, exists=_exception_exists),
    ],
    "deadLetterException": [Call(404, path=_exception, body={}, exists=_exception_exists)],
    "listDeadLetters": [
        Call(200, check=_only_de01_dead_letters),
        Call(200, query=lambda s: {"stream": "erp"}, check=_only_de01_dead_letters),
    ],
    "getDeadLetter": [Call(404, path=_us_dead_letter)],
    "replayDeadLetter": [
        Call(404, path=_us_dead_letter, body={}, exists=lambda s: f"/v1/dead-letters/erp/{s.us_dead_letter}")
    ],
    "startReconciliation": [Call(403, body={"legal_entity": "US01", "period": "2026-11", "tolerance": "0.01"})],
    "getReconciliation": [Call(404, path=lambda s: {"report_id": s.us_report})],
    "startActualsToPlan": [Call(403, body={"legal_entity": "US01", "period": "2026-11"})],
    "getWorkflowRun": [Call(404, path=lambda s: {"run_id": s.us_actuals_run})],
    "getOpsSummary": [
        Call(200, check=_de01_figures),
        Call(403, query=lambda s: {"legal_entity": "US01"}),
    ],
    "proposeMappingSet": [
        Call(403, path=lambda s: {"name": "default"}, body=_NA_REMAPPED),
        Call(403, path=lambda s: {"name": "default"}, body=_PRODUCT_CHANGED),
    ],
    "proposeExceptionOutcome": [
        Call(404, path=_exception, body={"outcome": "resolve", "note": "x"}, exists=_exception_exists),
        Call(
            404,
            path=_exception,
            body={"outcome": "retry", "note": "x", "overrides": {"legal_entity": "DE01"}},
            exists=_exception_exists,
        ),
    ],
    "listAuditEntries": [
        Call(200, check=_only_de01_entries),
        Call(403, query=lambda s: {"legal_entity": "US01"}),
    ],
    "listProposals": [
        Call(200, check=_only_de01_proposals),
        Call(200, query=lambda s: {"status": "pending"}, check=_only_de01_proposals),
    ],
    "getProposal": [Call(404, path=_proposal)],
    "approveProposal": [Call(404, path=_proposal, body={}, exists=_proposal_exists)],
    "rejectProposal": [Call(404, path=_proposal, body={"note": "no"}, exists=_proposal_exists)],
    "proposeRuleSet": [
        Call(403, path=lambda s: {"name": "quote-to-cash"}, body=_RULES),
    ],
    "proposeRuleSetActivation": [
        Call(403, path=lambda s: {"name": "quote-to-cash", "number": "1"}, body={"note": "roll back"}),
    ],
    "putMappingSet": [
        Call(403, path=lambda s: {"name": "default"}, body=_NA_REMAPPED),
        Call(403, path=lambda s: {"name": "default"}, body=_PRODUCT_CHANGED),
    ],
    "listSchedules": [Call(200)],
}

#: Operations that hold no entity's data, and why.
ENTITY_FREE: dict[str, str] = {
    "getMappingSet": "the shared configuration every entity's runs are mapped with, not an entity's records",
    "getMappingSetVersion": "an earlier version of the same shared configuration",
    "getRuleSet": "the validation rules every entity's runs are checked with, not an entity's records",
    "listRuleSetVersions": "the versions of that shared rule set",
    "getRuleSetVersion": "one version of that shared rule set",
    "diffRuleSetVersions": "a comparison of two versions of that shared rule set",
    "listPlanningVersions": "the planning model's versions and when each was published: no entity's figures",
}


@dataclass(frozen=True)
class Operation:
    document: str
    method: str
    path: str
    operation_id: str


def published_operations() -> Iterator[Operation]:
    """Every operation of every published process and gateway document."""
    for api in ("process", "gateway"):
        for document in sorted((DOCUMENTS / api).glob("v*.json")):
            if document.name.endswith(".baseline.json"):
                continue
            paths = json.loads(document.read_text())["paths"]
            for path, item in paths.items():
                for method, operation in item.items():
                    if isinstance(operation, dict) and "operationId" in operation:
                        yield Operation(f"{api}/{document.name}", method.upper(), path, operation["operationId"])


def test_every_published_operation_has_an_entity_rule() -> None:
    published = {op.operation_id for op in published_operations()}
    assert published, "no published documents found"
    assert not set(CASES) & set(ENTITY_FREE)
    unruled = sorted(published - set(CASES) - set(ENTITY_FREE))
    assert not unruled, f"operations without a legal-entity rule (add them to CASES or ENTITY_FREE): {unruled}"
    assert not (set(CASES) | set(ENTITY_FREE)) - published, "rules for operations no document publishes"


def _token(issuer: TestIssuer, subject: str, entities: list[str] | None) -> dict[str, str]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer.issuer, "aud": issuer.audience, "sub": subject, "client_id": subject,
        "iat": now, "nbf": now, "exp": now + 300, "scope": " ".join(SCOPES),
    }  # fmt: skip
    if entities is not None:
        claims["legal_entities"] = entities
    token = jwt.encode(claims, issuer.key, algorithm="ES256", headers={"kid": issuer.kid, "typ": "at+jwt"})
    return {"Authorization": "Bearer " + normalize_token(token, "ES256")}


async def _snapshot(redis: RedisClient) -> dict[bytes, bytes | None]:
    keys = sorted([k async for k in redis.scan_iter(count=1000)])
    return {k: await redis.dump(k) for k in keys}


async def _seed(client: Any, systems: Systems, headers: dict[str, str]) -> Seeded:
    """US01 and DE01 data through the API, as the unrestricted caller: runs, exceptions, a report."""
    seeded = Seeded()
    for deal in (US_WAIT, US_BAD, DE_WAIT, DE_BAD):
        response = await client.post(RUNS, json={"opportunity_id": deal.id}, headers=headers)
        assert response.status_code == 202, response.text
    for run_id in (seeded.us_run, f"q2c-{DE_WAIT.id}"):
        await run_reaches_as(client, run_id, "order_created", headers)
    for run_id, attr in ((seeded.us_failed_run, "us_exception"), (f"q2c-{DE_BAD.id}", "de_exception")):

        async def failed(run_id: str = run_id) -> bool:
            run = (await client.get(f"{RUNS}/{run_id}", headers=headers)).json()
            return bool(run["state"] == "failed" and run.get("exception_id"))

        await until(failed)
        run = (await client.get(f"{RUNS}/{run_id}", headers=headers)).json()
        setattr(seeded, attr, run["exception_id"])
    actuals = await client.post(
        "/v1/actuals-to-plan/runs", json={"legal_entity": "US01", "period": "2026-11"}, headers=headers
    )
    assert actuals.json()["status"] == "failed", actuals.text
    seeded.us_actuals_exception = actuals.json()["exception_id"]
    report = await client.post(
        "/v1/reconciliations", json={"legal_entity": "US01", "period": "2026-11", "tolerance": "0.01"}, headers=headers
    )
    assert report.status_code == 201, report.text
    seeded.us_report = report.json()["id"]
    for exception_id, attr in ((seeded.us_exception, "us_proposal"), (seeded.de_exception, "de_proposal")):
        proposed = await client.post(
            f"/v1/exceptions/{exception_id}/proposals", json={"outcome": "resolve", "note": "by hand"}, headers=headers
        )
        assert proposed.status_code == 201, proposed.text
        setattr(seeded, attr, proposed.json()["id"])
    return seeded


async def _dead_letter(redis: RedisClient, entity: str) -> str:
    """A period-closed event of `entity` that a consumer group gave up on (as servicekit writes it)."""
    period = AccountingPeriod(legal_entity=entity, subsidiary_id="1", period="2026-09", status="closed")
    event = new_event(source="/system/erp", type=PERIOD_CLOSED, data=msgspec.to_builtins(period), legal_entity=entity)
    fields = {"event": msgspec.json.encode(event), "reason": "handler failed 10 times", "group": "g", "attempts": "11"}
    entry_id = await redis.xadd(f"{ERP_EVENTS}:dead", fields)  # type: ignore[arg-type]  # bytes and str values
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


async def run_reaches_as(client: Any, run_id: str, state: str, headers: dict[str, str]) -> None:
    async def reached() -> bool:
        response = await client.get(f"{RUNS}/{run_id}", headers=headers)
        return bool(response.status_code == 200 and response.json()["state"] == state)

    await until(reached)


def _judge(call: Call, seeded: Seeded, path: str, response: Any) -> str | None:
    """What is wrong with the DE01 caller's answer, or None."""
    if response.status_code != call.expect:
        return f"answered {response.status_code}, expected {call.expect}: {response.text[:300]}"
    if call.expect == 403 and not response.json()["type"].endswith("/entity-not-allowed"):
        return f"refused for another reason: {response.text[:300]}"
    sent = path + json.dumps(call.query(seeded)) + json.dumps(call.body)
    leaked = [m for m in seeded.markers() if m and m not in sent and m in response.text]
    if leaked:
        return f"leaked {leaked}: {response.text[:300]}"
    if call.check is not None:
        try:
            call.check(response.json(), seeded)
        except AssertionError as exc:
            return f"wrong content ({exc}): {response.text[:300]}"
    return None


async def test_a_de01_caller_gets_no_byte_of_us01_data_and_changes_nothing_of_it(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    systems.reset(US_WAIT, US_BAD, US_NEW, DE_WAIT, DE_BAD)
    systems.periods.append(AccountingPeriod(legal_entity="US01", subsidiary_id="1", period="2026-11", status="open"))
    issuer = TestIssuer(audience="fig-process")  # what the gateway's token exchange yields
    everyone = _token(issuer, "controller", ["US01", "DE01", "GB01"])
    de01 = _token(issuer, "de01-analyst", ["DE01"])
    with issuer.serve() as jwks_base:
        auth = {"auth_required": True, "jwks_url": f"{jwks_base}/.well-known/jwks.json", "token_issuer": issuer.issuer}
        async with process_api(settings_for(systems, redis_url, **auth)) as client:
            seeded = await _seed(client, systems, everyone)
        seeded.us_dead_letter, seeded.de_dead_letter = [await _dead_letter(redis, e) for e in ("US01", "DE01")]
        # The matrix runs without workers, so nothing but the calls themselves could change Redis;
        # and with four eyes off, so the direct changes (PUT mapping, resolve) reach their entity checks.
        async with process_api(settings_for(systems, redis_url, workers=False, four_eyes=False, **auth)) as client:
            before, writes_before = await _snapshot(redis), len([c for c in systems.calls if c.method != "GET"])
            seen: set[str] = set()
            problems: list[str] = []
            for op in published_operations():
                if op.operation_id in ENTITY_FREE:
                    continue
                for call in CASES[op.operation_id]:
                    path = op.path.format(**call.path(seeded))
                    response = await client.request(
                        op.method, path, params=call.query(seeded), json=call.body, headers=de01
                    )
                    where = f"{op.document} {op.operation_id} {op.method} {path} {call.query(seeded)}"
                    seen.add(op.operation_id)
                    problem = _judge(call, seeded, path, response)
                    if problem:
                        problems.append(f"{where}: {problem}")
            assert not problems, "\n".join(problems)
            assert await _snapshot(redis) == before, "a DE01 caller changed stored state"
            assert len([c for c in systems.calls if c.method != "GET"]) == writes_before

            # The hidden resources are real: an unrestricted caller sees every one of them.
            for op in published_operations():
                for call in CASES.get(op.operation_id, []):
                    if call.expect != 404:
                        continue
                    target = call.exists(seeded) if call.exists else op.path.format(**call.path(seeded))
                    if call.exists is None and op.method != "GET":
                        continue  # an approved opportunity without a run: nothing to read yet
                    shown = await client.get(target, headers=everyone)
                    assert shown.status_code == 200, f"{target}: {shown.text}"
                    assert "US01" in shown.text or US_WAIT.id in shown.text
            # DE01's own figures are the unrestricted caller's DE01 figures.
            mine = (await client.get("/v1/ops/summary", headers=de01)).json()
            theirs = (await client.get("/v1/ops/summary", params={"legal_entity": "DE01"}, headers=everyone)).json()
            ignore = {"as_of", "legal_entity", "forecast_refresh_lag_seconds", "policy_violations_by_flow"}
            assert {k: v for k, v in mine.items() if k not in ignore} == {
                k: v for k, v in theirs.items() if k not in ignore
            }
            everything = (await client.get("/v1/ops/summary", headers=everyone)).json()
            assert everything["open_exceptions"] > mine["open_exceptions"]

            # A token without a legal_entities claim is cleared for no entity.
            nobody = _token(issuer, "no-entities", None)
            assert (await client.get("/v1/exceptions", headers=nobody)).json()["items"] == []
            hidden = await client.get(f"/v1/exceptions/{seeded.de_exception}", headers=nobody)
            assert hidden.status_code == 404
            assert (await client.get("/v1/ops/summary", headers=nobody)).json()["open_exceptions"] == 0
    assert seen == set(CASES)


async def test_a_de01_caller_may_change_its_own_region_of_a_mapping_set(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    issuer = TestIssuer(audience="fig-process")  # what the gateway's token exchange yields
    de01 = _token(issuer, "de01-admin", ["DE01"])
    body = json.loads(json.dumps(_NA_REMAPPED))
    body["regions"]["NA"]["currencies"] = ["USD"]
    body["regions"]["DACH"]["currencies"] = ["EUR", "CHF"]
    with issuer.serve() as jwks_base:
        auth = {"auth_required": True, "jwks_url": f"{jwks_base}/.well-known/jwks.json", "token_issuer": issuer.issuer}
        async with process_api(settings_for(systems, redis_url, workers=False, four_eyes=False, **auth)) as client:
            changed = await client.put("/v1/mappings/default", json=body, headers=de01)
            assert changed.status_code == 201, changed.text
            assert changed.json()["mapping"]["regions"]["DACH"]["currencies"] == ["EUR", "CHF"]
            # Moving its region to another entity changes that entity's runs too.
            body["regions"]["DACH"] = {"legal_entity": "FR01", "subsidiary_id": "4", "currencies": ["EUR"]}
            moved = await client.put("/v1/mappings/default", json=body, headers=de01)
            assert moved.status_code == 403, moved.text
            assert moved.json()["extensions"]["legal_entities"] == ["FR01"]
            assert (await client.get("/v1/mappings/default", headers=de01)).json()["number"] == 2
