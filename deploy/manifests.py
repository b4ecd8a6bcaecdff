"""Kubernetes manifests rendered from the same service registry `fig up` uses, so they cannot drift.

`fig manifests render` writes `deploy/k8s/fig.yaml` (the platform: gateway, IdP, process API, system
APIs, Redis Cluster) and `deploy/k8s/sandboxes.yaml` (vendor sandboxes, for staging only);
`fig check` fails when the committed files differ from what the registry renders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from deploy.services import SERVICES, ServiceSpec, service_env

__all__ = ["K8S_DIR", "render_manifests"]

K8S_DIR = Path(__file__).resolve().parent / "k8s"
NAMESPACE = "fig"
IMAGE = "ghcr.io/fig/finance-integration-gateway:0.1.0"
REDIS_URL = "redis://redis-cluster.fig.svc:6379/0?cluster=true"
REDIS_NODES = 6  # 3 primaries + 3 replicas: any one node can be lost without losing data or service

#: Replicas per role: stateless services scale out; the sandboxes hold state in-process (one each).
REPLICAS = {"gateway": 2, "process": 2, "system": 2, "idp": 1, "sandbox": 1, "experience": 2}


#: Operator-provided Secrets: nothing secret has a default outside the local stack.
IDP_REGISTRY_SECRET = "fig-idp-registry"  # keys clients.toml, users.toml (hashed secrets and passwords)
PROCESS_CLIENT_SECRET = "fig-process-client"  # key client-secret: the process API's secret at the issuer
GATEWAY_CLIENT_SECRET = "fig-gateway-client"  # key client-secret: the gateway's secret at the issuer
CONSOLE_CLIENT_SECRET = "fig-console-client"  # key client-secret: the console's secret at the issuer
#: Where people open the console (the Ingress in front of it, HTTPS): an overlay sets the real one;
#: the IdP registers `<it>/auth/callback` as the console client's redirect URI.
CONSOLE_PUBLIC_URL = "https://console.fig.example"
#: Where people's browsers reach the identity provider (the cluster-internal address is not theirs).
IDP_PUBLIC_URL = "https://idp.fig.example"
_IDP_REGISTRY_DIR = "/etc/fig/idp"


def _secret_env(spec: ServiceSpec) -> list[dict[str, Any]]:
    if spec.name == "process":
        ref = {"secretKeyRef": {"name": PROCESS_CLIENT_SECRET, "key": "client-secret"}}
        return [{"name": "FIG_CLIENT_SECRET", "valueFrom": ref}]
    if spec.name == "gateway":
        ref = {"secretKeyRef": {"name": GATEWAY_CLIENT_SECRET, "key": "client-secret"}}
        return [{"name": "FIG_CLIENT_SECRET", "valueFrom": ref}]
    if spec.name == "console":
        ref = {"secretKeyRef": {"name": CONSOLE_CLIENT_SECRET, "key": "client-secret"}}
        return [{"name": "FIG_CLIENT_SECRET", "valueFrom": ref}]
    if spec.name == "idp":
        return [
            {"name": "FIG_CLIENTS_PATH", "value": f"{_IDP_REGISTRY_DIR}/clients.toml"},
            {"name": "FIG_USERS_PATH", "value": f"{_IDP_REGISTRY_DIR}/users.toml"},
        ]
    return []


def _k8s_env(spec: ServiceSpec) -> list[dict[str, Any]]:
    # Distinct placeholder ports let every local URL be told apart and rewritten to its cluster DNS name.
    ports = {s.name: 20000 + n for n, s in enumerate(SERVICES)}
    urls = {f"http://127.0.0.1:{ports[s.name]}": f"http://{s.name}.{NAMESPACE}.svc" for s in SERVICES}
    env = {
        key: urls.get(value, value)
        for key, value in service_env(spec.name, ports, REDIS_URL, "/var/lib/fig", fast=False).items()
    }
    env["FIG_HOST"] = "0.0.0.0"  # noqa: S104 - inside the pod network
    env["FIG_PORT"] = "8080"
    env.pop("FIG_DATA_DIR", None)
    if spec.role == "sandbox":
        env["FIG_DATA_DIR"] = "/var/lib/fig"
    if spec.name == "console":
        env.update(FIG_PUBLIC_URL=CONSOLE_PUBLIC_URL, FIG_IDP_PUBLIC_URL=IDP_PUBLIC_URL)
    plain: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in env.items()]
    return sorted(plain + _secret_env(spec), key=lambda e: str(e["name"]))


def _deployment(spec: ServiceSpec) -> list[dict[str, Any]]:
    labels = {"app.kubernetes.io/name": spec.name, "app.kubernetes.io/part-of": "fig", "fig.dev/role": spec.role}
    container: dict[str, Any] = {
        "name": spec.name,
        "image": IMAGE,
        "args": [spec.name],
        "ports": [{"name": "http", "containerPort": 8080}],
        "env": _k8s_env(spec),
        "readinessProbe": {"httpGet": {"path": "/health/ready", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/health/live", "port": "http"}, "periodSeconds": 10},
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": {
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": spec.role != "sandbox",
            "allowPrivilegeEscalation": False,
        },
    }
    if spec.role == "sandbox":
        container["volumeMounts"] = [{"name": "data", "mountPath": "/var/lib/fig"}]
    if spec.name == "idp":
        container["volumeMounts"] = [{"name": "registry", "mountPath": _IDP_REGISTRY_DIR, "readOnly": True}]
    pod: dict[str, Any] = {"containers": [container], "terminationGracePeriodSeconds": 20}
    if spec.role == "sandbox":
        pod["volumes"] = [{"name": "data", "emptyDir": {}}]
    if spec.name == "idp":
        pod["volumes"] = [{"name": "registry", "secret": {"secretName": IDP_REGISTRY_SECRET}}]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": spec.name, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "replicas": REPLICAS[spec.role],
            "selector": {"matchLabels": {"app.kubernetes.io/name": spec.name}},
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": spec.name, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "selector": {"app.kubernetes.io/name": spec.name},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }
    found = [deployment, service]
    if REPLICAS[spec.role] > 1:
        found.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": spec.name, "namespace": NAMESPACE},
                "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": spec.name}}},
            }
        )
    return found


def _redis_cluster() -> list[dict[str, Any]]:
    labels = {"app.kubernetes.io/name": "redis-cluster", "app.kubernetes.io/part-of": "fig"}
    config = (Path(__file__).resolve().parent / "redis" / "redis.conf").read_text()
    config += "cluster-enabled yes\ncluster-config-file /data/nodes.conf\ncluster-node-timeout 5000\ndir /data\n"
    nodes = " ".join(f"redis-cluster-{i}.redis-cluster.{NAMESPACE}.svc:6379" for i in range(REDIS_NODES))
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "redis-cluster", "namespace": NAMESPACE},
            "data": {"redis.conf": config},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "redis-cluster", "namespace": NAMESPACE, "labels": labels},
            "spec": {
                "clusterIP": "None",
                "selector": labels,
                "ports": [{"name": "redis", "port": 6379}, {"name": "bus", "port": 16379}],
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "redis-cluster", "namespace": NAMESPACE, "labels": labels},
            "spec": {
                "serviceName": "redis-cluster",
                "replicas": REDIS_NODES,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "affinity": {
                            "podAntiAffinity": {
                                "preferredDuringSchedulingIgnoredDuringExecution": [
                                    {
                                        "weight": 100,
                                        "podAffinityTerm": {
                                            "labelSelector": {"matchLabels": labels},
                                            "topologyKey": "kubernetes.io/hostname",
                                        },
                                    }
                                ]
                            }
                        },
                        "containers": [
                            {
                                "name": "redis",
                                "image": "redis:7.2",
                                "command": ["redis-server", "/conf/redis.conf"],
                                "ports": [
                                    {"name": "redis", "containerPort": 6379},
                                    {"name": "bus", "containerPort": 16379},
                                ],
                                "volumeMounts": [
                                    {"name": "conf", "mountPath": "/conf"},
                                    {"name": "data", "mountPath": "/data"},
                                ],
                                "readinessProbe": {"exec": {"command": ["redis-cli", "ping"]}, "periodSeconds": 5},
                            }
                        ],
                        "volumes": [{"name": "conf", "configMap": {"name": "redis-cluster"}}],
                    },
                },
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
                    }
                ],
            },
        },
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "redis-cluster-create", "namespace": NAMESPACE},
            "spec": {
                "backoffLimit": 10,
                "template": {
                    "spec": {
                        "restartPolicy": "OnFailure",
                        "containers": [
                            {
                                "name": "create",
                                "image": "redis:7.2",
                                "command": [
                                    "sh",
                                    "-c",
                                    f"redis-cli --cluster create {nodes} --cluster-replicas 1 --cluster-yes || "
                                    "redis-cli -h redis-cluster-0.redis-cluster cluster info "
                                    "| grep -q cluster_state:ok",
                                ],
                            }
                        ],
                    }
                },
            },
        },
    ]


def render_manifests() -> dict[str, str]:
    """File name -> YAML text for deploy/k8s/."""
    header = "# Generated by `fig manifests render` from deploy/services.py; do not edit by hand.\n"
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    platform = [namespace, *_redis_cluster()]
    sandboxes: list[dict[str, Any]] = []
    for spec in SERVICES:
        (sandboxes if spec.role == "sandbox" else platform).extend(_deployment(spec))
    return {"fig.yaml": _dump(header, platform), "sandboxes.yaml": _dump(header, sandboxes)}


def _dump(header: str, docs: list[dict[str, Any]]) -> str:
    text: str = yaml.safe_dump_all(docs, sort_keys=False, width=120)
    return header + text
