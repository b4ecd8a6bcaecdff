"""Reading the committed Kubernetes manifests back, and a small NetworkPolicy evaluator for the tests."""

from __future__ import annotations

from typing import Any

import yaml

from deploy.manifests import K8S_DIR

__all__ = ["KUBERNETES", "WORKLOADS", "admits", "objects", "pod_labels", "pod_spec", "reachable", "sends"]

WORKLOADS = ("Deployment", "StatefulSet", "Job")
#: The Kubernetes release whose schemas the manifests must satisfy (the newest the pinned
#: kubernetes-validate ships).
KUBERNETES = "1.37"


def objects(overlay: str) -> list[dict[str, Any]]:
    """The committed, fully built overlay (`deploy/k8s/rendered/<overlay>.yaml`)."""
    return [doc for doc in yaml.safe_load_all((K8S_DIR / "rendered" / f"{overlay}.yaml").read_text()) if doc]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def pod_labels(docs: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Workload name -> the labels its pods carry."""
    return {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"] for d in docs if d["kind"] in WORKLOADS}


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        assert expr["operator"] == "In", expr  # the only operator the manifests use
        if labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


def _peer_matches(peer: dict[str, Any], labels: dict[str, str] | None) -> bool:
    """`labels` None is a client outside the cluster: only an ipBlock peer admits it."""
    if labels is None:
        return "ipBlock" in peer
    if "ipBlock" in peer or "namespaceSelector" in peer:
        return False  # pods of our namespace are matched by podSelector peers, nothing else
    return _selects(peer["podSelector"], labels)


def _port_matches(rule: dict[str, Any], port: int) -> bool:
    return "ports" not in rule or any(p["port"] == port and p.get("protocol", "TCP") == "TCP" for p in rule["ports"])


def _allowed(
    docs: list[dict[str, Any]], direction: str, pod: dict[str, str], peer: dict[str, str] | None, port: int
) -> bool:
    peers_key = "from" if direction == "Ingress" else "to"
    policies = [
        d["spec"]
        for d in docs
        if d["kind"] == "NetworkPolicy"
        and _selects(d["spec"]["podSelector"], pod)
        and direction in d["spec"]["policyTypes"]
    ]
    if not policies:
        return True  # not isolated
    return any(
        _port_matches(rule, port) and (peers_key not in rule or any(_peer_matches(p, peer) for p in rule[peers_key]))
        for spec in policies
        for rule in spec.get(direction.lower(), [])
    )


def admits(docs: list[dict[str, Any]], dst: dict[str, str], src: dict[str, str] | None, port: int) -> bool:
    """The policies let `src` (None: outside the cluster) connect to pod `dst` on `port`."""
    return _allowed(docs, "Ingress", dst, src, port)


def sends(docs: list[dict[str, Any]], src: dict[str, str], dst: dict[str, str] | None, port: int) -> bool:
    """The policies let pod `src` open a connection to `dst` (None: an address outside the cluster)."""
    return _allowed(docs, "Egress", src, dst, port)


def reachable(docs: list[dict[str, Any]], src: dict[str, str] | None, dst: dict[str, str], port: int) -> bool:
    return admits(docs, dst, src, port) and (src is None or sends(docs, src, dst, port))
