"""Who may talk to whom: default-deny NetworkPolicies plus one allow-list per workload, and the Ingress.

The allow-lists follow the registry: a service admits traffic from the services that name it in
their `upstreams`, or from anywhere when it is `public`; it may call its upstreams, Redis and DNS.
An upstream that only exists where vendors and identity are emulated (a sandbox, the dev IdP) is an
external HTTPS endpoint in production, so its callers may also leave the cluster on port 443.
"""

from __future__ import annotations

from typing import Any

from deploy.manifests.common import CONTAINER_PORT, DEV_ONLY_ROLES, NAMESPACE, REDIS_NAME, REDIS_PORT, selector
from deploy.services import BY_NAME, SERVICES, ServiceSpec

__all__ = ["INGRESS_DOMAIN", "default_deny", "dns_egress", "ingress", "policy", "redis_policies", "service_policy"]

#: Hosts are `<service>.<domain>`; an operator's overlay patches them to the real names.
INGRESS_DOMAIN = "fig.example.com"
_REDIS_BUS_PORT = REDIS_PORT + 10000


def _tcp(port: int) -> dict[str, Any]:
    return {"protocol": "TCP", "port": port}


def dns_egress() -> dict[str, Any]:
    """Name resolution through the cluster DNS (kube-system's kube-dns / CoreDNS pods)."""
    return {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, _tcp(53)],
    }


def policy(name: str, pods: dict[str, str], ingress: list[Any], egress: list[Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "podSelector": {"matchLabels": pods},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    }


def default_deny() -> dict[str, Any]:
    """Every pod of the namespace: no traffic in or out unless a policy of its own allows it."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny", "namespace": NAMESPACE},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def service_policy(spec: ServiceSpec) -> dict[str, Any]:
    port = [_tcp(CONTAINER_PORT)]
    callers = [s.name for s in SERVICES if spec.name in s.upstreams]
    ingress: list[Any]
    if spec.public:
        ingress = [{"ports": port}]
    elif callers:
        ingress = [{"from": [{"podSelector": {"matchLabels": selector(c)}} for c in callers], "ports": port}]
    else:
        ingress = []
    egress: list[Any] = [dns_egress()]
    if spec.uses_redis:
        egress.append({"to": [{"podSelector": {"matchLabels": selector(REDIS_NAME)}}], "ports": [_tcp(REDIS_PORT)]})
    if spec.upstreams:
        egress.append({"to": [{"podSelector": {"matchLabels": selector(u)}} for u in spec.upstreams], "ports": port})
    if any(BY_NAME[u].role in DEV_ONLY_ROLES for u in spec.upstreams):
        egress.append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [_tcp(443)]})
    return policy(spec.name, selector(spec.name), ingress, egress)


def redis_policies() -> list[dict[str, Any]]:
    """Redis nodes admit the services that use Redis and the cluster-create job; the nodes talk among themselves."""
    nodes = {"podSelector": {"matchLabels": selector(REDIS_NAME)}}
    creator = {"podSelector": {"matchLabels": selector(f"{REDIS_NAME}-create")}}
    clients = sorted(spec.name for spec in SERVICES if spec.uses_redis)
    services = {
        "podSelector": {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In", "values": clients}]}
    }
    both = [_tcp(REDIS_PORT), _tcp(_REDIS_BUS_PORT)]
    return [
        policy(
            REDIS_NAME,
            selector(REDIS_NAME),
            [{"from": [services, creator], "ports": [_tcp(REDIS_PORT)]}, {"from": [nodes], "ports": both}],
            [dns_egress(), {"to": [nodes], "ports": both}],
        ),
        policy(
            f"{REDIS_NAME}-create",
            selector(f"{REDIS_NAME}-create"),
            [],
            [dns_egress(), {"to": [nodes], "ports": [_tcp(REDIS_PORT)]}],
        ),
    ]


def ingress(spec: ServiceSpec) -> dict[str, Any]:
    """HTTPS entry for a `public` service at `<name>.<INGRESS_DOMAIN>`, certificate in Secret `<name>-tls`."""
    host = f"{spec.name}.{INGRESS_DOMAIN}"
    backend = {"service": {"name": spec.name, "port": {"name": "http"}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": spec.name, "namespace": NAMESPACE},
        "spec": {
            "tls": [{"hosts": [host], "secretName": f"{spec.name}-tls"}],
            "rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}],
        },
    }
