"""The Redis Cluster every service points at: 6 nodes (3 primaries + 3 replicas), append-only persistence.

Any one node can be lost without losing data or service: its replica is promoted. The nodes run as
the image's `redis` user without the image's entrypoint (which would switch users as root).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deploy.manifests.common import NAMESPACE, REDIS_NAME, REDIS_PORT, labels, selector
from deploy.manifests.network import redis_policies
from deploy.manifests.workloads import container_security

__all__ = ["REDIS_CONFIG", "REDIS_IMAGE", "REDIS_NODES", "redis_cluster"]

REDIS_NODES = 6
REDIS_IMAGE = "redis:7.2"
#: The persistence settings shared by the cluster nodes and the compose file's single Redis.
REDIS_CONFIG = Path(__file__).resolve().parent.parent / "redis" / "redis.conf"
_REDIS_USER = 999  # `redis` in the official image
_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": _REDIS_USER,
    "runAsGroup": _REDIS_USER,
    "fsGroup": _REDIS_USER,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _node_container() -> dict[str, Any]:
    ping = {"exec": {"command": ["redis-cli", "ping"]}}
    return {
        "name": "redis",
        "image": REDIS_IMAGE,
        "command": ["redis-server", "/conf/redis.conf"],
        "ports": [{"name": "redis", "containerPort": REDIS_PORT}, {"name": "bus", "containerPort": REDIS_PORT + 10000}],
        "volumeMounts": [{"name": "conf", "mountPath": "/conf"}, {"name": "data", "mountPath": "/data"}],
        "readinessProbe": {**ping, "periodSeconds": 5},
        "livenessProbe": {**ping, "initialDelaySeconds": 10, "periodSeconds": 10, "timeoutSeconds": 2},
        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        "securityContext": container_security(),
    }


def _create_job(nodes: str) -> dict[str, Any]:
    script = (
        f"redis-cli --cluster create {nodes} --cluster-replicas 1 --cluster-yes || "
        f"redis-cli -h {REDIS_NAME}-0.{REDIS_NAME} cluster info | grep -q cluster_state:ok"
    )
    name = f"{REDIS_NAME}-create"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels(name)},
        "spec": {
            "backoffLimit": 10,
            "template": {
                "metadata": {"labels": labels(name)},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "automountServiceAccountToken": False,
                    "securityContext": _SECURITY,
                    "containers": [
                        {
                            "name": "create",
                            "image": REDIS_IMAGE,
                            "command": ["sh", "-c", script],
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "32Mi"},
                                "limits": {"cpu": "200m", "memory": "64Mi"},
                            },
                            "securityContext": container_security(),
                        }
                    ],
                },
            },
        },
    }


def redis_cluster() -> list[dict[str, Any]]:
    """ConfigMap, headless Service, StatefulSet, disruption budget, cluster-create Job, network policies."""
    config = REDIS_CONFIG.read_text()
    config += "cluster-enabled yes\ncluster-config-file /data/nodes.conf\ncluster-node-timeout 5000\ndir /data\n"
    nodes = " ".join(f"{REDIS_NAME}-{i}.{REDIS_NAME}.{NAMESPACE}.svc:{REDIS_PORT}" for i in range(REDIS_NODES))
    meta = {"name": REDIS_NAME, "namespace": NAMESPACE, "labels": labels(REDIS_NAME)}
    anti_affinity = {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "labelSelector": {"matchLabels": selector(REDIS_NAME)},
                        "topologyKey": "kubernetes.io/hostname",
                    },
                }
            ]
        }
    }
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"redis.conf": config}},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "clusterIP": "None",
                "selector": selector(REDIS_NAME),
                "ports": [{"name": "redis", "port": REDIS_PORT}, {"name": "bus", "port": REDIS_PORT + 10000}],
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": meta,
            "spec": {
                "serviceName": REDIS_NAME,
                "replicas": REDIS_NODES,
                "selector": {"matchLabels": labels(REDIS_NAME)},  # immutable: kept as first released
                "template": {
                    "metadata": {"labels": labels(REDIS_NAME)},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "securityContext": _SECURITY,
                        "affinity": anti_affinity,
                        "containers": [_node_container()],
                        "volumes": [{"name": "conf", "configMap": {"name": REDIS_NAME}}],
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
        {  # one node at a time: a primary's replica takes over while it is away
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": meta,
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(REDIS_NAME)}},
        },
        _create_job(nodes),
        *redis_policies(),
    ]
