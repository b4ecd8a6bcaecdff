"""The headless browser the console's browser tests drive: Debian's `chromium`, installed if missing.

Idempotent: with `/usr/bin/chromium` present nothing runs. Otherwise, as root with apt (a fresh CI
machine or container), `apt-get install -y chromium` (after `apt-get update` when the package lists
are empty). Playwright for Python drives it through `executable_path`; Playwright's own browser
download (`playwright install`) is never used, so the tests need no network beyond the distribution.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "BrowserMissing", "ensure_chromium"]

CHROMIUM = Path("/usr/bin/chromium")
#: Headless, no sandbox (containers run as root), and nothing that reaches the network by itself.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


class BrowserMissing(RuntimeError):
    """Chromium is not installed and could not be installed here; the message says how to."""


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(["apt-get", *args], capture_output=True, text=True, check=False, env=env)  # noqa: S603, S607


def ensure_chromium() -> Path:
    """The Chromium binary, installing Debian's package first when it is missing."""
    if CHROMIUM.exists():
        return CHROMIUM
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise BrowserMissing(
            f"{CHROMIUM} is missing: install Debian's chromium package (`sudo apt-get install -y chromium`)"
        )
    done = _apt("install", "-y", "--no-install-recommends", "chromium")
    if done.returncode != 0:
        _apt("update")
        done = _apt("install", "-y", "--no-install-recommends", "chromium")
    if done.returncode != 0 or not CHROMIUM.exists():
        raise BrowserMissing(f"apt-get install chromium failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return CHROMIUM
