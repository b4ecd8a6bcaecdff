"""Mutation testing of two controls in the normal run: every mutant of the module must be killed.

cosmic-ray mutates a copy of the `contracts` package (never the working tree) one mutation at a
time and runs the module's unit tests against each mutant; a mutant that survives means a test
stopped guarding the control. Deterministic (the mutants are enumerated, not sampled) and bounded
(two small modules, about 40 mutants, a fraction of a second each).
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
