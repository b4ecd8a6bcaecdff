"""Two gateway processes on one Redis: together they never let a client exceed its limit; SIGHUP reloads."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx

from servicekit import RedisClient
from tests.gateway.conftest import RunningIdp
from tests.gateway.fakes import FakeUpstream
from tests.gateway.ledger import write_ledger
from tests.gateway.processes import gateway_process

ENTRIES = "/v3/ledger/entries?legal_entity=DE01"


def _settings(tmp_path: Path, redis_url: str, idp: RunningIdp, upstream: FakeUpstream, limit: int) -> dict[str, str]:
    return {
        **write_ledger(tmp_path, limit),
        "redis_url": redis_url,
        "idp_url": idp.url,
        "token_issuer": idp.issuer.issuer,
        "process_url": upstream.base,
        "client_secret": idp.credentials.client_secret("gateway"),
    }


async def test_two_gateway_processes_share_one_exact_limit(
    tmp_path: Path, redis_url: str, redis: RedisClient, idp: RunningIdp, upstream: FakeUpstream
) -> None:
    settings = _settings(tmp_path, redis_url, idp, upstream, limit=20)
    headers = {"Authorization": f"Bearer {idp.mint(scopes=('ledger:read',))}"}
    with gateway_process(settings) as (first, _), gateway_process(settings) as (second, _):
        async with httpx.AsyncClient(timeout=10) as http:
            for base in (first, second):  # warm up (JWKS, connections) on another route tier
                warm = await http.get(f"{base}/v2/ledger/entries?legal_entity=DE01", headers=headers)
                assert warm.status_code == 200, warm.text
            calls = [http.get(f"{base}{ENTRIES}", headers=headers) for _ in range(30) for base in (first, second)]
            responses = await asyncio.gather(*calls)
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 20, statuses
    assert statuses.count(429) == 40
    # Both instances answered some of the allowed ones, so the budget really was shared.
    assert {r.url.port for r in responses if r.status_code == 200} == {httpx.URL(first).port, httpx.URL(second).port}


def test_sighup_to_the_served_gateway_reloads_and_a_bad_file_keeps_the_old_config(
    tmp_path: Path, redis_url: str, idp: RunningIdp, upstream: FakeUpstream
) -> None:
    settings = {**_settings(tmp_path, redis_url, idp, upstream, limit=1000), "config_watch_interval": "0"}
    headers = {"Authorization": f"Bearer {idp.mint(scopes=('ledger:read',))}"}
    config = Path(settings["config_path"])
    # Served as in production: granian's main process gets the signal, its worker reloads.
    with gateway_process(settings, granian=True) as (base, process):
        v2 = f"{base}/v2/ledger/entries?legal_entity=DE01"
        assert httpx.get(v2, headers=headers).status_code == 200
        config.write_text(config.read_text().replace('status = "deprecated"', 'status = "retired"'))
        time.sleep(0.2)
        assert httpx.get(v2, headers=headers).status_code == 200  # not watched: unchanged until SIGHUP
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while httpx.get(v2, headers=headers).status_code != 410:
            assert time.monotonic() < deadline, "SIGHUP did not reload the configuration"
            time.sleep(0.05)
        assert process.poll() is None
        # A broken file: the signal is answered with an error in the log, the running config stays.
        config.write_text(config.read_text().replace('status = "retired"', 'status = "abolished"'))
        process.send_signal(signal.SIGHUP)
        # Watched for longer than granian's own respawn interval (3.5 s), had it respawned workers.
        watch_until = time.monotonic() + 7
        while time.monotonic() < watch_until:
            assert process.poll() is None, "the gateway went down on a bad configuration"
            assert httpx.get(v2, headers=headers, timeout=2).status_code == 410
            time.sleep(0.5)
        v3 = f"{base}{ENTRIES}"
        assert httpx.get(v3, headers=headers).status_code == 200
