"""Mutation testing of the controls in the normal run: every mutant of the module must be killed.

cosmic-ray mutates a copy of the `contracts` package (never the working tree) one mutation at a
time and runs the module's unit tests against each mutant; a mutant that survives means a test
stopped guarding the control. Deterministic (the mutants are enumerated, not sampled) and bounded
(two small modules, about 40 mutants, a fraction of a second each).

The gateway's authorisation policies (scopes, legal entities, version lifecycle) run the same
way through `tests.mutation.mutate_forked` (the tests collected once, each mutant in a fork of
that warm process, far cheaper per mutant; the test module builds its route table with the
catalogue, never with these modules, so collecting once is sound):
every mutant must be killed by tests/gateway/test_policy_units.py except the equivalent ones
listed below, each with the reason it cannot change behaviour.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COSMIC_RAY = Path(sys.executable).parent / "cosmic-ray"
#: module -> the unit tests that must kill each of its mutants
CONTROLS = {
    "contracts/money.py": "tests/contracts/test_money.py",
    "contracts/ownership.py": "tests/contracts/test_ownership.py",
}


def _config(module: str, tests: str) -> str:
    command = f"{sys.executable} -m pytest -x -q -p no:cacheprovider {tests}"
    return "\n".join(
        [
            "[cosmic-ray]",
            f"module-path = {json.dumps(module)}",
            "timeout = 60.0",
            "excluded-modules = []",
            f"test-command = {json.dumps(command)}",
            "[cosmic-ray.distributor]",
            'name = "local"',
            "",
        ]
    )


#: module -> the unit tests (pytest -k) that must kill each of its mutants, in forks of one process.
POLICIES = {
    "gateway/policies/scopes.py": "scope or unregistered_client or may_not_call or no_claims_or_no_route or closest",
    "gateway/policies/versions.py": "version or lifecycle",
    "gateway/policies/entities.py": "entit or depth or json_media",
}
#: (line before, line after) of mutants that cannot change what a caller gets, and why.
EQUIVALENT = {
    # len(required | granted) == len(required - granted) + len(granted): the same order, the same minimum.
    (
        "closest = min(operation.scopes, key=lambda required: len(required - granted))",
        "closest = min(operation.scopes, key=lambda required: len(required | granted))",
    ): "same ordering",
    # Only the part before the first `;` is read.
    (
        'media = (exchange.header(b"content-type") or b"").split(b";", 1)[0].strip().lower()',
        'media = (exchange.header(b"content-type") or b"").split(b";", 2)[0].strip().lower()',
    ): "first part only",
    # `in` is "path" or "query" (entity_params keeps no other); "path" <= "path" and "query" > "path".
    (
        'if where == "path" and name in exchange.path_params:',
        'if where <= "path" and name in exchange.path_params:',
    ): "two values only",
    # Reached only for "query" or a path parameter the route did not match (never: resolve matched it).
    ('elif where == "query" and exchange.query:', 'elif where >= "query" and exchange.query:'): "path always matched",
    ('elif where == "query" and exchange.query:', 'elif where <= "query" and exchange.query:'): "path always matched",
    ('elif where == "query" and exchange.query:', 'elif where == "query" or exchange.query:'): "path always matched",
    (
        'elif where == "query" and exchange.query:',
        'elif where is not "query" and exchange.query:',
    ): "path always matched",
    # A version's status is decoded by msgspec into the declared Literal object (identity holds), and
    # is one of active < deprecated < retired; only deprecated versions carry deprecation headers.
    ('if version.status == "retired":', 'if version.status is "retired":'): "msgspec literal",
    ('if version.status == "retired":', 'if version.status >= "retired":'): "retired is the greatest",
    ('if version.status == "deprecated":', 'if version.status is "deprecated":'): "msgspec literal",
    ('if version.status == "deprecated":', 'if version.status >= "deprecated":'): "only deprecated has headers",
    ('if version.status == "deprecated":', 'if version.status <= "deprecated":'): "active has no headers",
}


def _change(diff: str) -> tuple[str, str]:
    lines = diff.splitlines()
    before = [line[1:].strip() for line in lines if line.startswith("-") and not line.startswith("---")]
    after = [line[1:].strip() for line in lines if line.startswith("+") and not line.startswith("+++")]
    return " ".join(before), " ".join(after)


@pytest.mark.parametrize(("module", "keyword"), list(POLICIES.items()), ids=list(POLICIES))
def test_every_non_equivalent_mutant_of_the_policy_is_killed(module: str, keyword: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.mutation",
            module,
            "tests/gateway/test_policy_units.py",
            "--fork",
            "--collected",
            "--json",
            "-k",
            keyword,
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["killed"] > 0
    assert not outcome["not_applied"], "\n".join(outcome["not_applied"])
    survivors = [diff for diff in outcome["survivors"] if _change(diff) not in EQUIVALENT]
    assert not survivors, f"{len(survivors)} mutants of {module} survived:\n" + "\n".join(survivors)


@pytest.mark.parametrize(("module", "tests"), list(CONTROLS.items()), ids=list(CONTROLS))
def test_every_mutant_of_the_control_is_killed_by_its_unit_tests(tmp_path: Path, module: str, tests: str) -> None:
    shutil.copytree(ROOT / "contracts", tmp_path / "contracts", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / tests).parent.mkdir(parents=True)
    shutil.copy(ROOT / tests, tmp_path / tests)
    (tmp_path / "cr.toml").write_text(_config(module, tests))
    # The mutated copy, never the working tree; no third-party pytest plugins (a tenth of the time).
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}

    def cosmic_ray(*args: str) -> str:
        done = subprocess.run(
            [str(COSMIC_RAY), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return done.stdout

    cosmic_ray("init", "cr.toml", "session.sqlite")
    cosmic_ray("baseline", "cr.toml")  # the unmutated copy passes its tests
    cosmic_ray("exec", "cr.toml", "session.sqlite")
    jobs = [json.loads(line) for line in cosmic_ray("dump", "session.sqlite").splitlines() if line.strip()]
    results = [result for _, result in jobs]
    assert jobs
    assert all(result is not None for result in results), "cosmic-ray left mutants untested"
    survivors = [result["diff"] for result in results if result["test_outcome"] == "survived"]
    assert not survivors, f"{len(survivors)} of {len(jobs)} mutants of {module} survived:\n" + "\n".join(survivors)
