"""`fig up` supervises: a SIGKILLed service and a SIGKILLed embedded Redis come back, the rest keeps running."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from deploy.services import BY_NAME
from deploy.stack import Stack
from deploy.supervisor import Supervisor
from servicekit.redis import free_ports

NAMES = ("idp", "salesforce-sandbox", "crm")
BOUND = 60.0


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    ports = dict(zip(NAMES, free_ports(len(NAMES)), strict=True))
    with Stack(tmp_path, ports=ports, services=[BY_NAME[n] for n in NAMES]) as running:
        yield running


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_for(condition: str, check: object) -> None:
    deadline = time.monotonic() + BOUND
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not within {BOUND:g} s: {condition}"
        time.sleep(0.2)


def test_a_killed_service_and_redis_are_restarted_and_the_rest_keeps_running(stack: Stack) -> None:
    assert stack.redis is not None
    assert stack.redis.process is not None
    store = redis.Redis.from_url(stack.redis_url or "")
    store.set("fig:test:survives", "yes")
    store.bgrewriteaof()  # on disk before the kill, whatever the fsync timing
    _wait_for("AOF rewritten", lambda: store.info("persistence")["aof_rewrite_in_progress"] == 0)
    crm = next(p for p in stack.processes if p.spec.name == "crm")
    idp = next(p for p in stack.processes if p.spec.name == "idp")
    old_redis_pid = stack.redis.process.pid
    messages: list[str] = []
    stop = threading.Event()
    supervisor = Supervisor(stack, report=messages.append)
    watcher = threading.Thread(target=supervisor.watch, args=(stop, 0.1), daemon=True)
    watcher.start()
    try:
        os.kill(crm.popen.pid, signal.SIGKILL)
        os.kill(old_redis_pid, signal.SIGKILL)

        _wait_for("crm restarted", lambda: supervisor.restarts.get("crm") == 1)
        _wait_for("redis restarted", lambda: supervisor.restarts.get("redis") == 1)
        _wait_for("crm ready again (Redis reachable)", lambda: _ready(stack.url("crm")))
    finally:
        stop.set()
        watcher.join(10)
    # The same Redis data directory: what was stored before the kill is there.
    assert store.get("fig:test:survives") == b"yes"
    assert stack.redis.process.pid != old_redis_pid
    # The CRM API runs as a new process; the IdP was never touched.
    new_crm = next(p for p in stack.processes if p.spec.name == "crm")
    assert new_crm.popen.pid != crm.popen.pid
    assert new_crm.popen.poll() is None
    assert idp in stack.processes
    assert idp.popen.poll() is None
    _wait_for("the IdP ready again on the restarted Redis, without a restart", lambda: _ready(stack.url("idp")))
    assert idp.popen.poll() is None
    assert any(m.startswith("crm exited (code -9)") for m in messages), messages
    assert any(m.startswith("redis exited (code -9)") for m in messages), messages
    log = (stack.data_dir / "logs" / "supervisor.log").read_text()
    assert "crm restarted (restart 1)" in log
    assert "redis restarted (restart 1)" in log


def test_a_service_that_keeps_crashing_is_restarted_with_growing_delays(stack: Stack) -> None:
    now = [1000.0]
    supervisor = Supervisor(stack, base=1.0, cap=4.0, clock=lambda: now[0])
    messages: list[str] = []
    supervisor.report = messages.append
    for _ in range(4):
        crm = next(p for p in stack.processes if p.spec.name == "crm")
        os.kill(crm.popen.pid, signal.SIGKILL)
        crm.popen.wait(10)
        while not any(m.startswith("crm restarted") for m in supervisor.check()):
            now[0] += 0.5
    delays = [m.rsplit(" in ", 1)[-1] for m in messages if m.startswith("crm exited")]
    # Immediately, then 1, 2, 4 s (the cap); the stack was not stopped by any of it.
    assert delays == ["crm exited (code -9); restarting", "1 s", "2 s", "4 s"], messages
    assert supervisor.restarts["crm"] == 4
    _wait_for("crm ready after the restarts", lambda: _ready(stack.url("crm")))
