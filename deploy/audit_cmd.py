"""`fig audit verify` and `fig audit export`: check the audit log's hash chains, write one period's evidence.

A broken chain is reported (first bad entry named, exit status 1) and never repaired.
"""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from pathlib import Path
from typing import Any

import click

from servicekit.audit_chain import GLOBAL_CHAIN, AuditEntry, ChainBreak, verify_entries
from servicekit.audit_store import AuditStore
from servicekit.redis import connect_redis

__all__ = ["audit", "verify_file"]

_COLUMNS = list(AuditEntry.__struct_fields__)
_REDIS = click.option(
    "--redis-url",
    envvar="FIG_REDIS_URL",
    default="redis://127.0.0.1:6379/0",
    show_default=True,
    help="The stack's Redis.",
)


def verify_file(path: Path) -> tuple[int, ChainBreak | None]:
    """Entries in a JSONL export and the first that breaks the chain (its first entry anchors it)."""
    entries: list[Any] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            return len(entries), ChainBreak(position=number, seq=None, reason="not JSON")
    return len(entries), verify_entries(entries, anchored=False)


async def _verify_chain(store: AuditStore, chain: str) -> str | None:
    entries = [json.loads(data) async for _, data in store.raw(chain)]
    broken = verify_entries(entries)
    if broken is not None:
        return broken.describe()
    seq, digest = await store.head(chain)
    last = entries[-1] if entries else {"seq": 0, "hash": digest}
    if (last["seq"], last["hash"]) != (seq, digest):
        return f"the log ends at seq {last['seq']} but its head records seq {seq} (entries removed at the end)"
    return None


@click.group()
def audit() -> None:
    """The hash-chained audit log: verify it, export a period's evidence."""


@audit.command("verify")
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="A JSONL export.")
@click.option("--legal-entity", default=None, help="Only this entity's chain (GLOBAL for the global one).")
@_REDIS
def verify(file: Path | None, legal_entity: str | None, redis_url: str) -> None:
    """Verify every chain in Redis (or one export file offline); exit 1 naming the first bad entry."""
    if file is not None:
        count, broken = verify_file(file)
        if broken is not None:
            click.echo(f"{file}: TAMPERED: {broken.describe()}")
            sys.exit(1)
        click.echo(f"{file}: {count} entries, chain intact")
        return

    async def run() -> bool:
        client = connect_redis(redis_url)
        try:
            store = AuditStore(client)
            chains = [legal_entity] if legal_entity else await store.chains()
            ok = True
            for chain in chains:
                problem = await _verify_chain(store, chain)
                seq, _ = await store.head(chain)
                click.echo(f"chain {chain}: " + (f"TAMPERED: {problem}" if problem else f"{seq} entries, intact"))
                ok = ok and problem is None
            return ok
        finally:
            await client.aclose()

    if not asyncio.run(run()):
        sys.exit(1)


@audit.command("export")
@click.option("--period", required=True, help="YYYY-MM (UTC).")
@click.option("--legal-entity", required=True, help=f"The entity's chain ({GLOBAL_CHAIN} for the global one).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path(), show_default=True)
@_REDIS
def export(period: str, legal_entity: str, out: Path, redis_url: str) -> None:
    """Write the entity's entries of the period (a contiguous range of its chain) as JSONL and CSV.

    The chain is verified first; a tampered chain is reported and nothing is written.
    """

    async def read() -> list[tuple[bytes, dict[str, Any]]]:
        client = connect_redis(redis_url)
        try:
            store = AuditStore(client)
            problem = await _verify_chain(store, legal_entity)
            if problem is not None:
                click.echo(f"chain {legal_entity}: TAMPERED: {problem}; nothing exported")
                sys.exit(1)
            return [(data, json.loads(data)) async for _, data in store.raw(legal_entity)]
        finally:
            await client.aclose()

    rows = asyncio.run(read())
    inside = [i for i, (_, entry) in enumerate(rows) if str(entry["time"]).startswith(period)]
    chosen = rows[inside[0] : inside[-1] + 1] if inside else []
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"audit-{legal_entity}-{period}"
    jsonl, table = stem.with_suffix(".jsonl"), stem.with_suffix(".csv")
    jsonl.write_bytes(b"".join(data + b"\n" for data, _ in chosen))
    with table.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=_COLUMNS)
        writer.writeheader()
        for _, entry in chosen:
            writer.writerow({**entry, "detail": json.dumps(entry["detail"], sort_keys=True)})
    click.echo(f"wrote {jsonl} and {table}: {len(chosen)} entries")
