"""Deployment files rendered from the service registry (deploy/services.py), so they cannot drift.

`fig manifests render` writes the Kustomize base and overlays (`deploy/k8s/base/`,
`deploy/k8s/overlays/{staging,production}/`), each overlay fully built (`deploy/k8s/rendered/`),
and the single-machine compose file (`deploy/compose.yaml`); the tests fail when a committed file
differs from what the registry renders.
"""

from __future__ import annotations

from deploy.manifests.render import COMPOSE_FILE, DEPLOY_DIR, K8S_DIR, OVERLAYS, overlays, render_all, render_manifests

__all__ = ["COMPOSE_FILE", "DEPLOY_DIR", "K8S_DIR", "OVERLAYS", "overlays", "render_all", "render_manifests"]
