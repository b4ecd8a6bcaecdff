"""Configuration changes without a restart: a watched file or SIGHUP; a bad file keeps the old one."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path

from litestar import Litestar
from litestar.testing import AsyncTestClient

from servicekit import RedisClient
from tests.gateway.conftest import RunningIdp
from tests.gateway.ledger import write_ledger

V2 = "/v2/ledger/entries?legal_entity=DE01"


async def _status(client: AsyncTestClient[Litestar], token: str, path: str = V2) -> int:
    return (await client.get(path, headers={"Authorization": f"Bearer {token}"})).status_code


async def _becomes(client: AsyncTestClient[Litestar], token: str, status: int) -> bool:
    deadline = asyncio.get_running_loop().time() + 3.0
    while asyncio.get_running_loop().time() < deadline:
        if await _status(client, token) == status:
            return True
        await asyncio.sleep(0.05)
    return False


class _Recorder(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.ERROR)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _retire_v2(path: Path) -> None:
    text = path.read_text()
    path.write_text(text.replace('major = 2\nstatus = "deprecated"', 'major = 2\nstatus = "retired"'))


async def test_a_changed_file_is_picked_up_and_a_bad_one_keeps_the_old_config(
    tmp_path: Path,
    make_gateway: Callable[..., Litestar],
    idp: RunningIdp,
    redis: RedisClient,
) -> None:
    settings = write_ledger(tmp_path)
    config = Path(settings["config_path"])
    token = idp.mint(scopes=("ledger:read",))
    async with AsyncTestClient(make_gateway(**settings, config_watch_interval=0.05)) as client:
        assert await _status(client, token) == 200
        _retire_v2(config)
        assert await _becomes(client, token, 410)
        good = config.read_text()  # noqa: ASYNC240 - a tiny local file
        records: list[logging.LogRecord] = []
        handler = _Recorder(records)
        logging.getLogger("gateway.config").addHandler(handler)
        config.write_text(good.replace('status = "retired"', 'status = "sleeping"'))  # noqa: ASYNC240

        def refused() -> bool:
            return any("reload refused" in r.getMessage() and "sleeping" in r.getMessage() for r in records)

        # The positive signal: the reloader read the bad file and refused it (not a sleep that hopes so).
        deadline = asyncio.get_running_loop().time() + 10.0
        while not refused():
            assert asyncio.get_running_loop().time() < deadline, "the bad file was never read"
            await asyncio.sleep(0.02)
        logging.getLogger("gateway.config").removeHandler(handler)
        assert await _status(client, token) == 410  # the old (good) configuration is still in force
        assert await _status(client, token, "/v3/ledger/entries?legal_entity=DE01") == 200
        config.write_text(good.replace('status = "retired"', 'status = "active"'))  # noqa: ASYNC240
        assert await _becomes(client, token, 200)


async def test_operations_come_from_the_documents_and_follow_their_changes(
    tmp_path: Path, make_gateway: Callable[..., Litestar], idp: RunningIdp, redis: RedisClient
) -> None:
    settings = write_ledger(tmp_path)
    document = tmp_path / "ledger" / "v1.json"
    headers = {"Authorization": f"Bearer {idp.mint(scopes=('ledger:read',))}"}
    async with AsyncTestClient(make_gateway(**settings, config_watch_interval=0.05)) as client:
        assert (await client.get("/v3/ledger/accounts", headers=headers)).status_code == 404
        changed = json.loads(document.read_text())
        changed["paths"]["/v3/ledger/accounts"] = {
            "get": {"operationId": "listAccounts", "security": [{"bearer": ["ledger:audit"]}], "responses": {}}
        }
        document.write_text(json.dumps(changed))
        deadline = asyncio.get_running_loop().time() + 3.0
        while (response := await client.get("/v3/ledger/accounts", headers=headers)).status_code == 404:
            assert asyncio.get_running_loop().time() < deadline, "the new operation was not picked up"
            await asyncio.sleep(0.05)
        # Its scope comes from its `security` in the document.
        assert response.status_code == 403, response.text
        assert response.json()["extensions"]["required_scopes"] == ["ledger:audit"]
