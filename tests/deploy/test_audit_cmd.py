"""`fig audit`: verify chains in Redis, export a period and verify the export offline; tampering named."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from deploy.cli import main
from servicekit import RedisClient
from servicekit.audit_chain import AuditRecord
from servicekit.audit_store import AuditStore, log_key


def _record(n: int, time: str) -> AuditRecord:
    return AuditRecord(
        time=time,
        actor="ana",
        client="portal",
        action="exception.resolved",
        resource=f"exc-{n}",
        legal_entity="DE01",
        correlation_id=f"c-{n}",
        outcome="done",
    )


async def fig(runner: CliRunner, args: list[str]) -> Result:
    """The CLI runs its own event loop: invoke it off the test's loop."""
    return await asyncio.to_thread(runner.invoke, main, args)


async def _fill(redis: RedisClient) -> None:
    store = AuditStore(redis)
    months = ["2026-10-30", "2026-11-02", "2026-11-15", "2026-11-28", "2026-12-01"]
    for n, day in enumerate(months):
        await store.append(_record(n, f"{day}T10:00:00.000+00:00"))


async def test_export_then_offline_verify_and_tampering_is_named(
    redis: RedisClient, redis_url: str, tmp_path: Path
) -> None:
    await _fill(redis)
    runner = CliRunner()
    verified = await fig(runner, ["audit", "verify", "--redis-url", redis_url])
    assert verified.exit_code == 0, verified.output
    assert "chain DE01: 5 entries, intact" in verified.output

    exported = await fig(
        runner,
        [
            "audit",
            "export",
            "--period",
            "2026-11",
            "--legal-entity",
            "DE01",
            "--out",
            str(tmp_path),
            "--redis-url",
            redis_url,
        ],
    )
    assert exported.exit_code == 0, exported.output
    jsonl = tmp_path / "audit-DE01-2026-11.jsonl"
    lines = jsonl.read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [2, 3, 4]
    assert (tmp_path / "audit-DE01-2026-11.csv").read_text().count("\n") == 4
    ok = await fig(runner, ["audit", "verify", "--file", str(jsonl)])
    assert ok.exit_code == 0, ok.output

    altered = json.loads(lines[1])
    altered["actor"] = "mallory"
    jsonl.write_text("\n".join([lines[0], json.dumps(altered), lines[2]]) + "\n")
    bad = await fig(runner, ["audit", "verify", "--file", str(jsonl)])
    assert bad.exit_code == 1
    assert "TAMPERED: entry 2 (seq 3)" in bad.output
    jsonl.write_text("\n".join([lines[0], lines[2]]) + "\n")
    removed = await fig(runner, ["audit", "verify", "--file", str(jsonl)])
    assert removed.exit_code == 1
    assert "entry 2 (seq 4)" in removed.output


async def test_an_entry_removed_in_redis_is_reported_and_blocks_export(
    redis: RedisClient, redis_url: str, tmp_path: Path
) -> None:
    await _fill(redis)
    rows: Any = await redis.xrange(log_key("DE01"))
    ids = [stream_id for stream_id, _ in rows]
    await redis.xdel(log_key("DE01"), ids[2])
    runner = CliRunner()
    verified = await fig(runner, ["audit", "verify", "--redis-url", redis_url])
    assert verified.exit_code == 1
    assert "chain DE01: TAMPERED: entry 3 (seq 4)" in verified.output
    exported = await fig(
        runner,
        [
            "audit",
            "export",
            "--period",
            "2026-11",
            "--legal-entity",
            "DE01",
            "--out",
            str(tmp_path),
            "--redis-url",
            redis_url,
        ],
    )
    assert exported.exit_code == 1
    assert not (tmp_path / "audit-DE01-2026-11.jsonl").exists()
