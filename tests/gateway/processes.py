"""Gateway instances as real processes (uvicorn, loop in the main thread, so SIGHUP works)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from servicekit import free_port

__all__ = ["gateway_process"]


@contextmanager
def gateway_process(settings: dict[str, Any]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start `gateway.entry:create_entry` with `settings` as FIG_ variables; yields (base URL, process)."""
    port = free_port()
    env = {**os.environ, "FIG_LOG_LEVEL": "WARNING", **{f"FIG_{k.upper()}": str(v) for k, v in settings.items()}}
    command = [sys.executable, "-m", "uvicorn", "--factory", "gateway.entry:create_entry", "--port", str(port)]
    process = subprocess.Popen([*command, "--log-level", "warning"], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gateway process did not start (exit code {process.poll()})")
            time.sleep(0.1)
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
