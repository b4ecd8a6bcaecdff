"""What every rendered object shares: namespace, image, labels, ports, and which services each environment runs."""

from __future__ import annotations

from typing import Any

from deploy.services import SERVICES, ServiceSpec

__all__ = [
    "CONTAINER_PORT",
    "DEV_ONLY_ROLES",
    "IDENTITY_CONFIG",
    "IMAGE",
    "NAMESPACE",
    "PART_OF",
    "REDIS_NAME",
    "REDIS_PORT",
    "REDIS_URL",
    "VENDOR_CONFIG",
    "base_services",
    "dev_services",
    "labels",
    "selector",
    "vendor_key",
]

NAMESPACE = "fig"
IMAGE = "ghcr.io/fig/finance-integration-gateway:0.1.0"
PART_OF = "fig"
CONTAINER_PORT = 8080
REDIS_NAME = "redis-cluster"
REDIS_PORT = 6379
REDIS_URL = f"redis://{REDIS_NAME}.{NAMESPACE}.svc:{REDIS_PORT}/0?cluster=true"

#: Roles that exist only where the vendors and the identity provider are emulated (staging, a laptop):
#: production talks to the real vendors and to the operator's OIDC issuer instead.
DEV_ONLY_ROLES = frozenset({"sandbox", "idp"})

#: ConfigMaps naming the identity provider and the vendor endpoints: the staging overlay ships them
#: (pointing at its own IdP and sandboxes), production's operator creates them.
IDENTITY_CONFIG = "fig-identity"
VENDOR_CONFIG = "fig-vendors"


def base_services() -> tuple[ServiceSpec, ...]:
    """The services every environment runs (the Kustomize base)."""
    return tuple(spec for spec in SERVICES if spec.role not in DEV_ONLY_ROLES)


def dev_services() -> tuple[ServiceSpec, ...]:
    """The dev identity provider and the vendor sandboxes (staging overlay, compose `sandboxes` profile)."""
    return tuple(spec for spec in SERVICES if spec.role in DEV_ONLY_ROLES)


def vendor_key(sandbox: str) -> str:
    """The `fig-vendors` key holding the base URL a sandbox stands in for (`salesforce-sandbox` -> `salesforce-url`)."""
    return sandbox.removesuffix("-sandbox") + "-url"


def selector(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name}


def labels(name: str, role: str | None = None) -> dict[str, Any]:
    found = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": PART_OF}
    if role is not None:
        found["fig.dev/role"] = role
    return found
