"""The Anaplan connector with a fault proxy in front of the sandbox: its Retry-After is never cut short."""

from __future__ import annotations

import pytest

from servicekit import create_http_client
from system_apis.planning.connector import PlanningConnector
from system_apis.planning.errors import PlanningBusy, to_problem
from tests.reliability.faultproxy import Answer, FaultProxy
from tests.system_apis.planning.helpers import config, serve_sandbox

VERSIONS = "/versions"


async def test_an_anaplan_retry_after_beyond_the_bound_is_passed_up_not_cut_short() -> None:
    with serve_sandbox() as base, FaultProxy(base) as proxy:
        async with create_http_client(proxy.url, retries=0) as http:
            connector = PlanningConnector(config(proxy.url, retry_max=0.5), http)
            proxy.arm(Answer(429, {"Retry-After": "0.3"}), match=VERSIONS)
            assert len(await connector.forecast_versions()) == 5
            first, second = (t for t, _, _ in proxy.hits(VERSIONS))
            assert second - first >= 0.3
            proxy.arm(Answer(429, {"Retry-After": "30"}), times=None, match=VERSIONS)
            with pytest.raises(PlanningBusy) as busy:
                await connector.forecast_versions()
    assert len(proxy.hits(VERSIONS)) == 3
    assert to_problem(busy.value).headers["Retry-After"] == "30"
