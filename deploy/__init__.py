"""Composition root: the `fig` CLI, the local stack launcher, the demo and deployment manifests."""

from __future__ import annotations

__all__: list[str] = []
