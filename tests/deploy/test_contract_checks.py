"""The contract suite runs every check schemathesis has (`--checks all`) and ours, with every phase."""

from __future__ import annotations

import inspect

from schemathesis.checks import CHECKS as REGISTRY
from schemathesis.checks import load_all_checks

import deploy.schemathesis_hooks  # noqa: F401 - registers our own check, as the suite's subprocess does
from deploy import contract_tests
from deploy.contract_tests import CHECKS, POSITIVE_STATUSES


def test_every_schemathesis_check_is_run() -> None:
    load_all_checks()  # what `schemathesis run` does before it reads `--checks`
    assert set(CHECKS) == set(REGISTRY.get_all_names())
    assert "token_accepted" in CHECKS


def test_every_phase_runs_and_a_schema_valid_request_is_never_a_400() -> None:
    source = inspect.getsource(contract_tests.run_contract_suite)
    assert '"examples,coverage,fuzzing"' in source
    assert '",stateful"' in source
    assert "400" not in POSITIVE_STATUSES
    assert "422" in POSITIVE_STATUSES
