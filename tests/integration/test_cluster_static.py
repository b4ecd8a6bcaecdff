"""No product code calls a Redis command that spans slots, even on a path the cluster pass does not reach.

The cluster pass of `fig check` proves the paths the suite exercises; this reads the source for the
rest. A multi-key command (MGET, KEYS, RENAME, SUNIONSTORE, ...) on a Redis client or pipeline
fails with CROSSSLOT on a cluster unless every key shares a hash tag: use `servicekit.get_many`,
`scan_iter`, or one key per call. A MULTI/EXEC is allowed only where listed below with the tag its
keys share.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("contracts", "servicekit", "system_apis", "process_apis", "gateway", "deploy")

#: Commands that take several keys (or, for KEYS, ask one node of a cluster for all of them).
MULTI_KEY = frozenset(
    {
        "mget", "mset", "msetnx", "keys", "rename", "renamenx", "copy", "smove", "sunion", "sunionstore",
        "sinter", "sinterstore", "sdiff", "sdiffstore", "zunion", "zunionstore", "zinter", "zinterstore",
        "zdiff", "zdiffstore", "rpoplpush", "brpoplpush", "lmove", "blmove", "bitop", "pfmerge",
    }
)  # fmt: skip

#: Every MULTI/EXEC of the product, with why its keys share one slot.
TRANSACTIONS = {
    "servicekit/streams.py": "a stream and its dead letters, only when both share the stream's tag",
    "gateway/idp/sessions.py": "one refresh family's key",
    "system_apis/crm/feed.py": "fig:events:{crm} and the feed's watermark, tagged {crm}",
    "system_apis/erp/changefeed.py": "fig:events:{erp} and the feed's watermark, tagged {erp}",
}


def _receiver(node: ast.expr) -> str:
    """The last name of a call's receiver: `redis` for `self.redis.mget`, `pipe` for `pipe.mget`."""
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _is_redis(name: str) -> bool:
    return any(part in name.lower() for part in ("redis", "pipe", "client", "cluster"))


def _calls() -> list[tuple[str, ast.Call]]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            rel = path.relative_to(ROOT).as_posix()
            found += [(rel, node) for node in ast.walk(tree) if isinstance(node, ast.Call)]
    return found


def test_no_multi_key_command_is_sent_to_redis() -> None:
    offenders = [
        f"{path}:{call.lineno} {_receiver(call.func.value)}.{call.func.attr}(...)"
        for path, call in _calls()
        if isinstance(call.func, ast.Attribute)
        and call.func.attr in MULTI_KEY
        and _is_redis(_receiver(call.func.value))
    ]
    assert not offenders, f"multi-key Redis commands (CROSSSLOT on a cluster): {offenders}"


def _opens_transaction(call: ast.Call) -> bool:
    """`x.pipeline(transaction=<anything but False>)`: redis-py's MULTI/EXEC."""
    if not isinstance(call.func, ast.Attribute) or call.func.attr != "pipeline":
        return False
    flags = [k.value for k in call.keywords if k.arg == "transaction"]
    return any(not (isinstance(flag, ast.Constant) and flag.value is False) for flag in flags)


def test_every_transaction_is_one_whose_keys_share_a_slot() -> None:
    transactional = {path for path, call in _calls() if _opens_transaction(call)}
    assert transactional == set(TRANSACTIONS), (
        "a MULTI/EXEC was added or removed: list it in TRANSACTIONS with the hash tag its keys share "
        f"(found in {sorted(transactional)})"
    )
