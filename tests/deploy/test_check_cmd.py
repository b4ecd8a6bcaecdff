"""`fig check` (the README's test command, what CI runs) runs the Redis-backed tests a second time on a cluster."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OTHER_STEPS = ("lint", "format", "types", "layers", "contracts", "tests")


def test_fig_check_runs_the_redis_backed_tests_again_on_a_redis_cluster() -> None:
    skips = [arg for step in OTHER_STEPS for arg in ("--skip", step)]
    done = subprocess.run(
        [sys.executable, "-m", "deploy", "check", *skips, "tests/integration/test_suite_redis.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "FIG_TEST_REDIS=cluster pytest -m redis" in done.stdout
    assert "1 passed" in done.stdout
