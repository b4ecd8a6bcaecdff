"""Gateway instances as real processes: uvicorn, or granian as `fig serve gateway` runs it in production."""

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
def gateway_process(
    settings: dict[str, Any], *, granian: bool = False
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start `gateway.entry:create_entry` with `settings` as FIG_ variables; yields (base URL, process).

    `granian=True` runs `python -m deploy serve gateway` (granian's main process and one worker).
    """
    port = free_port()
    env = {**os.environ, "FIG_LOG_LEVEL": "WARNING", **{f"FIG_{k.upper()}": str(v) for k, v in settings.items()}}
    if granian:
        command = [sys.executable, "-m", "deploy", "serve", "gateway"]
        env["FIG_PORT"] = str(port)
    else:
        command = [sys.executable, "-m", "uvicorn", "--factory", "gateway.entry:create_entry", "--port", str(port)]
        command += ["--log-level", "warning"]
    process = subprocess.Popen(command, env=env)
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
