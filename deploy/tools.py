"""System tools the checks need, found on PATH or installed from the distribution.

`promtool` (Debian package `prometheus`) validates and unit-tests the alert rules in
`deploy/observability/`. On a fresh CI machine running as root with apt, it is installed on first
use, as `fig check` expects every tool of the suite to be available; elsewhere the error says
which package to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess

__all__ = ["ToolMissing", "find_promtool"]

_APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}


class ToolMissing(RuntimeError):
    """A required system tool is not installed and could not be installed here."""


def _apt_install(package: str) -> None:
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise ToolMissing(f"install the Debian package {package!r} (apt-get install -y {package})")
    env = {**os.environ, **_APT_ENV}
    command = [apt, "install", "-y", "--no-install-recommends", package]
    if subprocess.run(command, env=env, capture_output=True, check=False).returncode != 0:  # noqa: S603
        # A fresh machine may have no package lists yet.
        subprocess.run([apt, "update"], env=env, capture_output=True, check=False)  # noqa: S603
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            raise ToolMissing(f"apt-get could not install {package!r}: {done.stderr.strip()[-500:]}")


def find_promtool(*, install: bool = True) -> str:
    """The `promtool` binary; installs Debian's `prometheus` package when missing and `install` is set."""
    found = shutil.which("promtool")
    if found is None and install:
        _apt_install("prometheus")
        found = shutil.which("promtool")
    if found is None:
        raise ToolMissing("promtool not found: install the Debian package 'prometheus'")
    return found
