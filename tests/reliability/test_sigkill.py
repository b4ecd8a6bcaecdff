"""SIGKILL on the whole stack: process-API instances killed mid-run, Redis killed under load.

One stack (every service its own process, two process-API instances) serves both tests. Leases
and claims are shortened (`FIG_LOCK_TTL` 3 s, `FIG_CLAIM_IDLE` 2 s) so recovery fits the CI
budget; the soak benchmark (`bench.reliability.soak`) runs the same scenarios on the defaults.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.scenarios import kill_process_instances, kill_redis_under_load
from tests.reliability.stackrig import Rig, open_rig

pytestmark = pytest.mark.e2e

PROCESS_DEALS = 24
REDIS_DEALS = 24


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    env = {"FIG_LOCK_TTL": "3", "FIG_CLAIM_IDLE": "2"}
    with open_rig(tmp_path_factory.mktemp("sigkill"), deals=PROCESS_DEALS + REDIS_DEALS, env=env) as running:
        yield running


async def test_instances_killed_mid_run_leave_one_order_and_its_rows_per_deal(rig: Rig) -> None:
    report = await kill_process_instances(rig, deals=PROCESS_DEALS, kills=3, seed=1515, within=40.0)
    summary = report.as_dict()
    assert len(report.kills) == 3, summary
    # The kills came while runs were under way (not before or after all of them).
    assert sum(n or 0 for n in report.in_flight_at_kills) > 0, summary
    assert summary["not_settled"] == [], summary
    assert summary["not_one_effect"] == [], summary
    assert summary["completed"] == PROCESS_DEALS, summary


async def test_redis_killed_under_load_loses_no_acknowledged_start(rig: Rig) -> None:
    report = await kill_redis_under_load(rig, deals=REDIS_DEALS, seed=1516, down_for=2.0, within=45.0)
    summary = report.as_dict()
    # While Redis was down, clients were told to come back (503, Retry-After), and none got a 500.
    assert report.bad_answers == [], summary
    assert any(k.startswith("503 ") for k in report.answers), summary
    assert report.lost == [], summary
    assert report.never_acknowledged == [], summary
    assert summary["not_settled"] == [], summary
    assert summary["not_one_effect"] == [], summary
    assert summary["completed"] == REDIS_DEALS, summary
