"""Keep a running stack running: restart what crashed, with back-off, and say so.

A crashed service process (or the embedded Redis) is started again on its port (Redis on its data
directory, so what it had persisted is back) while the rest of the stack keeps running; services
reconnect to Redis by themselves. A process that crashes again soon after its restart is restarted
after a doubling delay (`base`, `2 * base`, ... up to `cap` seconds), so a service that cannot start
does not spin; one that stayed up for `stable` seconds starts again from an immediate restart.
Every restart is printed by `fig up` (through `report`) and logged (logger `deploy.supervisor`,
and `logs/supervisor.log` in the stack's data directory).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from deploy.stack import Stack

__all__ = ["Supervisor"]

log = logging.getLogger("deploy.supervisor")

REDIS = "redis"


@dataclass
class _Backoff:
    """Restart bookkeeping of one process: restarts in a row, when the next is due, when it last started."""

    streak: int = 0
    due: float | None = None
    started: float = 0.0


class Supervisor:
    """Watches `stack` (`check` once, or `watch` until stopped) and restarts what died."""

    def __init__(
        self,
        stack: Stack,
        *,
        report: Callable[[str], None] | None = None,
        base: float = 0.5,
        cap: float = 30.0,
        stable: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stack = stack
        self.report = report
        self.base = base
        self.cap = cap
        self.stable = stable
        self.clock = clock
        self.restarts: dict[str, int] = {}
        self._state: dict[str, _Backoff] = {}

    def watch(self, stop: threading.Event, interval: float = 0.5) -> None:
        """`check` every `interval` seconds until `stop` is set."""
        while not stop.wait(interval):
            self.check()

    def check(self) -> list[str]:
        """One pass: restart every dead process whose back-off has passed; what was done, as messages."""
        done: list[str] = []
        redis = self.stack.redis
        if redis is not None and redis.process is not None and redis.process.poll() is not None:
            code = redis.process.returncode
            if self._due(REDIS, code, done):
                self._restart(REDIS, self.stack.restart_redis, done)
        for proc in list(self.stack.processes):
            if proc.popen.poll() is None:
                continue
            name = proc.log_path.stem
            if self._due(name, proc.popen.returncode, done):
                self._restart(name, partial(self.stack.respawn, proc), done)
        return done

    def _due(self, name: str, code: int | None, done: list[str]) -> bool:
        now = self.clock()
        state = self._state.setdefault(name, _Backoff(started=now))
        if state.due is None:
            if now - state.started >= self.stable:
                state.streak = 0
            delay = 0.0 if state.streak == 0 else min(self.cap, self.base * 2 ** (state.streak - 1))
            state.due = now + delay
            self._say(done, f"{name} exited (code {code}); restarting" + (f" in {delay:g} s" if delay else ""))
        return now >= state.due

    def _restart(self, name: str, start: Callable[[], object], done: list[str]) -> None:
        state = self._state[name]
        state.streak += 1
        state.started = self.clock()
        try:
            start()
        except Exception as exc:  # a failed start is retried with back-off, never stops the others
            delay = min(self.cap, self.base * 2 ** (state.streak - 1))
            state.due = self.clock() + delay
            self._say(done, f"{name} did not start again ({exc}); next try in {delay:g} s")
            return
        state.due = None
        self.restarts[name] = self.restarts.get(name, 0) + 1
        self._say(done, f"{name} restarted (restart {self.restarts[name]})")

    def _say(self, done: list[str], message: str) -> None:
        done.append(message)
        log.warning("%s", message)
        self.stack.log_event(message)
        if self.report is not None:
            self.report(message)
