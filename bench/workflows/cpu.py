"""CPU time of every process of a running stack, by service (Linux `/proc`), to report CPU per run.

Each service process is summed with all its descendants (granian's workers are children of the
service process); the embedded Redis server and the benchmark client itself are reported apart.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

from deploy.stack import Stack

__all__ = ["CpuSnapshot", "cpu_by_service", "per_run_ms"]

#: service label -> CPU seconds (user + system) used so far.
CpuSnapshot = dict[str, float]

_TICK = os.sysconf("SC_CLK_TCK")


def _proc_table() -> dict[int, tuple[int, float, str]]:
    """pid -> (parent pid, CPU seconds, command name) of every live process."""
    table: dict[int, tuple[int, float, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue  # gone since the listing
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        table[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK, name)
    return table


def cpu_by_service(stack: Stack) -> CpuSnapshot:
    """CPU seconds so far of each service of `stack` (by its label), of Redis and of this process."""
    table = _proc_table()
    children: dict[int, list[int]] = defaultdict(list)
    for pid, (ppid, _, _) in table.items():
        children[ppid].append(pid)

    def tree(pid: int) -> float:
        return table.get(pid, (0, 0.0, ""))[1] + sum(tree(child) for child in children.get(pid, []))

    snapshot = {proc.log_path.stem: tree(proc.popen.pid) for proc in stack.processes}
    me = os.getpid()
    snapshot["redis"] = sum(
        cpu for pid, (ppid, cpu, name) in table.items() if name.startswith("redis-server") and ppid == me
    )
    snapshot["bench client"] = table.get(me, (0, 0.0, ""))[1]
    return snapshot


def per_run_ms(before: CpuSnapshot, after: CpuSnapshot, runs: int) -> dict[str, float]:
    """CPU milliseconds per run by service between two snapshots, busiest first, with the total."""
    used = {name: (after.get(name, 0.0) - before.get(name, 0.0)) * 1000 / max(1, runs) for name in after}
    ordered = {name: round(ms, 2) for name, ms in sorted(used.items(), key=lambda item: -item[1]) if ms >= 0.01}
    ordered["total"] = round(sum(used.values()), 2)
    return ordered
