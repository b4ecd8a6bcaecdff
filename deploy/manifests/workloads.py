"""One service's Kubernetes workload: Deployment, Service, autoscaler and disruption budget.

Every pod runs as the image's non-root user with a read-only root filesystem, no capabilities and
the runtime's default seccomp profile; writable paths are explicit `emptyDir` volumes. Probes are the
services' own health endpoints (`servicekit.health`). Settings that differ per environment (the
identity provider, the vendor endpoints) are read from ConfigMaps, credentials from Secrets, so the
same base runs in staging and in production.
"""

from __future__ import annotations

from typing import Any

from deploy.manifests.common import (
    CONTAINER_PORT,
    DEV_ONLY_ROLES,
    IDENTITY_CONFIG,
    IMAGE,
    NAMESPACE,
    REDIS_URL,
    VENDOR_CONFIG,
    labels,
    selector,
    vendor_key,
)
from deploy.services import BY_NAME, SERVICES, ServiceSpec, service_env

__all__ = [
    "IDP_REGISTRY_SECRET",
    "POD_SECURITY",
    "config_env",
    "container_security",
    "secret_env",
    "service_objects",
]

#: Operator-provided Secrets: nothing secret has a default outside the local stack.
IDP_REGISTRY_SECRET = "fig-idp-registry"  # keys clients.toml, users.toml (hashed secrets and passwords)
_CLIENT_SECRETS = {  # key client-secret
    "process": "fig-process-client",
    "gateway": "fig-gateway-client",
    "console": "fig-console-client",
}
#: Where people's browsers reach the console and the identity provider (not the cluster-internal
#: addresses): placeholders like the Ingress hosts, which an environment's overlay patches.
_PUBLIC_URLS = {
    "FIG_PUBLIC_URL": "https://console.fig.example.com",
    "FIG_IDP_PUBLIC_URL": "https://idp.fig.example.com",
}
_IDP_REGISTRY_DIR = "/etc/fig/idp"
_DATA_DIR = "/var/lib/fig"
_RUN_AS = 10001  # the image's `fig` user (deploy/container/Containerfile)

#: Where an identity-provider URL variable reads its value from in `fig-identity`.
_IDENTITY_KEYS = {"FIG_IDP_URL": "idp-url", "FIG_TOKEN_ISSUER": "issuer", "FIG_ISSUER": "issuer"}

POD_SECURITY: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": _RUN_AS,
    "runAsGroup": _RUN_AS,
    "fsGroup": _RUN_AS,
    "seccompProfile": {"type": "RuntimeDefault"},
}

#: (requests, limits) per role. Sandboxes keep their whole emulated tenant in memory.
_RESOURCES: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "gateway": ({"cpu": "500m", "memory": "256Mi"}, {"cpu": "2", "memory": "512Mi"}),
    "process": ({"cpu": "500m", "memory": "384Mi"}, {"cpu": "2", "memory": "768Mi"}),
    "system": ({"cpu": "250m", "memory": "256Mi"}, {"cpu": "1", "memory": "512Mi"}),
    "idp": ({"cpu": "100m", "memory": "128Mi"}, {"cpu": "500m", "memory": "256Mi"}),
    "sandbox": ({"cpu": "250m", "memory": "256Mi"}, {"cpu": "1", "memory": "1Gi"}),
}

#: (min, max) replicas of the autoscaled roles. Every service outside the dev-only roles is stateless
#: and autoscaled (a role not listed gets the last line's figures); dev-only ones keep their state in
#: memory and run one pod.
_AUTOSCALE = {"gateway": (2, 10), "process": (2, 6), "system": (2, 4)}
_STATELESS = "system"


def container_security() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}


def config_env(name: str, config_map: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"configMapKeyRef": {"name": config_map, "key": key}}}


def secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _env(spec: ServiceSpec) -> list[dict[str, Any]]:
    # Distinct placeholder ports let every local URL be told apart and rewritten for the cluster.
    ports = {s.name: 20000 + n for n, s in enumerate(SERVICES)}
    local = {f"http://127.0.0.1:{ports[s.name]}": s.name for s in SERVICES}
    env: list[dict[str, Any]] = [
        {"name": "FIG_HOST", "value": "0.0.0.0"},  # noqa: S104 - inside the pod network
        {"name": "FIG_PORT", "value": str(CONTAINER_PORT)},
    ]
    for key, value in service_env(spec.name, ports, REDIS_URL, _DATA_DIR, fast=False).items():
        target = local.get(value)
        if key in {"FIG_HOST", "FIG_PORT", "FIG_DATA_DIR"} or (key == "FIG_REDIS_URL" and not spec.uses_redis):
            continue
        if key in _PUBLIC_URLS:
            env.append({"name": key, "value": _PUBLIC_URLS[key]})
            continue
        if target is not None and target != spec.name and target not in spec.upstreams:
            continue  # a common setting this service never uses (the sandboxes do not call the IdP)
        if target is None:
            env.append({"name": key, "value": value})
        elif target == "idp":
            env.append(config_env(key, IDENTITY_CONFIG, _IDENTITY_KEYS[key]))
        elif BY_NAME[target].role == "sandbox":
            env.append(config_env(key, VENDOR_CONFIG, vendor_key(target)))
        else:
            env.append({"name": key, "value": f"http://{target}.{NAMESPACE}.svc"})
    if any(e["name"] == "FIG_IDP_URL" for e in env):
        env.append(config_env("FIG_JWKS_URL", IDENTITY_CONFIG, "jwks-url"))
    if spec.name == "console":
        env.append({"name": "FIG_IDP_PUBLIC_URL", "value": _PUBLIC_URLS["FIG_IDP_PUBLIC_URL"]})
    if spec.name in _CLIENT_SECRETS:
        env.append(secret_env("FIG_CLIENT_SECRET", _CLIENT_SECRETS[spec.name], "client-secret"))
    if spec.name == "idp":
        env.append({"name": "FIG_CLIENTS_PATH", "value": f"{_IDP_REGISTRY_DIR}/clients.toml"})
        env.append({"name": "FIG_USERS_PATH", "value": f"{_IDP_REGISTRY_DIR}/users.toml"})
    if spec.role == "sandbox":
        env.append({"name": "FIG_DATA_DIR", "value": _DATA_DIR})
    return sorted(env, key=lambda e: str(e["name"]))


def _pod(spec: ServiceSpec) -> dict[str, Any]:
    requests, limits = _RESOURCES.get(spec.role, _RESOURCES[_STATELESS])
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]  # noqa: S108 - a private emptyDir
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    if spec.role == "sandbox":
        mounts.append({"name": "data", "mountPath": _DATA_DIR})
        volumes.append({"name": "data", "emptyDir": {}})
    if spec.name == "idp":
        mounts.append({"name": "registry", "mountPath": _IDP_REGISTRY_DIR, "readOnly": True})
        volumes.append({"name": "registry", "secret": {"secretName": IDP_REGISTRY_SECRET}})
    container: dict[str, Any] = {
        "name": spec.name,
        "image": IMAGE,
        "args": [spec.name],
        "ports": [{"name": "http", "containerPort": CONTAINER_PORT}],
        "env": _env(spec),
        "readinessProbe": {
            "httpGet": {"path": "/health/ready", "port": "http"},
            "periodSeconds": 5,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/health/live", "port": "http"},
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        },
        "resources": {"requests": requests, "limits": limits},
        "securityContext": container_security(),
        "volumeMounts": mounts,
    }
    return {
        "automountServiceAccountToken": False,
        "securityContext": POD_SECURITY,
        "terminationGracePeriodSeconds": 20,
        "containers": [container],
        "volumes": volumes,
    }


def service_objects(spec: ServiceSpec) -> list[dict[str, Any]]:
    """Deployment and Service of `spec`; autoscaled roles also get an HPA and a PodDisruptionBudget."""
    meta = {"name": spec.name, "namespace": NAMESPACE, "labels": labels(spec.name, spec.role)}
    deployment_spec: dict[str, Any] = {
        "selector": {"matchLabels": selector(spec.name)},
        "template": {"metadata": {"labels": labels(spec.name, spec.role)}, "spec": _pod(spec)},
    }
    autoscale = None if spec.role in DEV_ONLY_ROLES else _AUTOSCALE.get(spec.role, _AUTOSCALE[_STATELESS])
    if autoscale is None:
        deployment_spec = {"replicas": 1, **deployment_spec}
    else:  # the HPA owns the replica count; a fixed one here would be reset on every apply
        deployment_spec["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    found: list[dict[str, Any]] = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": deployment_spec},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {"selector": selector(spec.name), "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
        },
    ]
    if autoscale is not None:
        low, high = autoscale
        found.append(
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": meta,
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.name},
                    "minReplicas": low,
                    "maxReplicas": high,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                        }
                    ],
                },
            }
        )
        found.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": meta,
                "spec": {"minAvailable": 1, "selector": {"matchLabels": selector(spec.name)}},
            }
        )
    return found
