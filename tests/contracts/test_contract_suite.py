"""schemathesis against every committed document and its running service (the whole stack, real HTTP).

One suite run per document (`deploy.contract_tests.run_contract_suite`, what `fig contracts test`
runs), then one test per documented operation reading its JUnit result, so CI shows which operation
broke its contract. Tokens come from the dev IdP: `process-api` for the system APIs, `demo` for the
process API and the gateway. Known real defects owned elsewhere are expected failures
(contracts/openapi/contract-test-exceptions.toml).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from contracts.client import ApiDeprecationWarning, NotFound, QuoteToCashClient, Unprocessable
from contracts.money import Money
from deploy.contract_tests import (
    ContractTestError,
    SuiteResult,
    client_credentials_token,
    load_findings,
    preflight,
    run_contract_suite,
)
from deploy.contracts_cmd import OPENAPI_DIR
from deploy.demo import exchange_token
from deploy.stack import Stack
from tests.contracts.conftest import SUITE_COUNTS

pytestmark = pytest.mark.e2e

#: (api, version) -> (service in the stack, IdP client)
SUITES = {
    ("crm", "v1"): ("crm", "process-api"),
    ("erp", "v1"): ("erp", "process-api"),
    ("planning", "v1"): ("planning", "process-api"),
    ("process", "v1"): ("process", "demo"),
    ("process", "v2"): ("process", "demo"),
    ("gateway", "v1"): ("gateway", "demo"),
    ("gateway", "v2"): ("gateway", "demo"),
}
MAX_EXAMPLES = 10
FINDINGS = {(f.api, f.version, f.operation): f for f in load_findings()}


def documented(api: str, version: str) -> list[str]:
    document = json.loads((OPENAPI_DIR / api / f"{version}.json").read_text())
    return sorted(f"{m.upper()} {p}" for p, item in document["paths"].items() for m in item)


OPERATIONS = [
    pytest.param(
        api,
        version,
        op,
        id=f"{api}-{version}-{op}",
        marks=[pytest.mark.xfail(reason=FINDINGS[(api, version, op)].reason, strict=False)]
        if (api, version, op) in FINDINGS
        else [],
    )
    for api, version in SUITES
    for op in documented(api, version)
]


def token_for(stack: Stack, client: str, service: str = "") -> str:
    creds = stack.credentials
    token = client_credentials_token(f"{stack.url('idp')}/oauth2/token", client, creds.client_secret(client))
    if service == "process":  # it accepts the gateway's exchanged tokens only (RFC 8693)
        return exchange_token(stack.url("idp"), token, actor=("gateway", creds.client_secret("gateway")))
    return token


@pytest.fixture(scope="module")
def suites(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], SuiteResult]:
    return {}


def suite(
    stack: Stack, cache: dict[tuple[str, str], SuiteResult], api: str, version: str, junit_dir: Path
) -> SuiteResult:
    if (api, version) not in cache:
        service, client = SUITES[(api, version)]
        result = run_contract_suite(
            OPENAPI_DIR / api / f"{version}.json",
            stack.url(service),
            token_for(stack, client, service),
            api=api,
            version=version,
            junit=junit_dir / f"{api}-{version}.xml",
            max_examples=MAX_EXAMPLES,
        )
        cache[(api, version)] = result
        SUITE_COUNTS.append(f"{api} {version}: {result.summary} (exit {result.exit_code})")
    return cache[(api, version)]


@pytest.fixture(scope="module")
def junit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("junit")


@pytest.mark.parametrize(("api", "version", "operation"), OPERATIONS)
def test_operation_keeps_its_contract(
    stack: Stack, suites: dict[tuple[str, str], SuiteResult], junit_dir: Path, api: str, version: str, operation: str
) -> None:
    result = suite(stack, suites, api, version, junit_dir)
    cases = {case.name: case for case in result.cases}
    case = cases.get(operation)
    assert case is not None, f"schemathesis did not test {operation}: {sorted(cases)}\n{result.output[-2000:]}"
    if case.skipped:
        pytest.skip(f"schemathesis skipped {operation}")
    assert case.passed, case.message


@pytest.mark.parametrize(("api", "version"), list(SUITES), ids=[f"{a}-{v}" for a, v in SUITES])
def test_suite_passes_with_the_token_accepted(
    stack: Stack, suites: dict[tuple[str, str], SuiteResult], junit_dir: Path, api: str, version: str
) -> None:
    """The whole run: OPTIONS/Allow and stateful cases too, and no auth warning (a refused token fails it)."""
    result = suite(stack, suites, api, version, junit_dir)
    known = {op for a, v, op in FINDINGS if (a, v) == (api, version)}
    unexpected = [c for c in result.failed if c.name not in known]
    assert not unexpected, "\n\n".join(f"{c.name}\n{c.message}" for c in unexpected)
    if not known:
        assert result.exit_code == 0, result.warnings or result.output[-3000:]
    assert "Authentication failed" not in result.output
    assert result.cases


def test_a_refused_token_stops_the_suite_before_it_runs(stack: Stack) -> None:
    document = json.loads((OPENAPI_DIR / "process" / "v2.json").read_text())
    token = token_for(stack, "demo")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(ContractTestError, match="refused the token"):
        preflight(document, stack.url("process"), tampered)
    with pytest.raises(ContractTestError, match="refused the token"):
        # A valid token for the wrong audience of scopes: the system API answers 403.
        preflight(json.loads((OPENAPI_DIR / "erp" / "v1.json").read_text()), stack.url("erp"), token)


def test_the_typed_client_runs_quote_to_cash_v2_through_the_gateway(stack: Stack) -> None:
    settings: dict[str, Any] = {
        "base_url": stack.url("gateway"),
        "token_url": f"{stack.url('idp')}/oauth2/token",
        "client_id": "demo",
        "client_secret": stack.credentials.client_secret("demo"),
    }
    with QuoteToCashClient.v2(**settings) as client:
        run = client.start_run("0068d00000DEMO2AAA", correlation_id="contract-client-1")
        again = client.get_run(run.id)
        with pytest.raises(Unprocessable) as refused:
            client.start_run("0068d00000DEMO1AAA")
        with pytest.raises(NotFound):
            client.get_run("q2c-0068d00000NOPEAAA")

    assert again.id == run.id == "q2c-0068d00000DEMO2AAA"
    assert again.totals == [Money(amount=Decimal("3000.00"), currency="GBP")]
    assert [(line.product_code, line.quantity) for line in again.lines] == [("FIG-SUPP", Decimal(2))]
    assert refused.value.type is not None
    assert refused.value.type.endswith("/opportunity-not-approved")
    assert refused.value.correlation_id

    # v1 is deprecated in the catalogue: the gateway says so on every answer and the client warns.
    with QuoteToCashClient.v1(**settings) as client, pytest.warns(ApiDeprecationWarning, match="2027") as warned:
        same = client.get_run(run.id)
    assert same.opportunity_id == "0068d00000DEMO2AAA"
    assert "successor-version" in str(warned[0].message)
