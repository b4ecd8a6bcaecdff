"""Who can reach whom in the rendered overlays: default deny, the registry's call paths, Ingress for public services."""

from __future__ import annotations

import pytest

from deploy.manifests import OVERLAYS
from deploy.manifests.network import ingress, service_policy
from deploy.services import BY_NAME, SERVICES, ServiceSpec
from tests.deploy.k8s_support import WORKLOADS, admits, objects, pod_labels, reachable, sends

HTTP, REDIS = 8080, 6379


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_has_a_network_policy_of_its_own_and_the_rest_is_denied(overlay: str) -> None:
    docs = objects(overlay)
    policies = [d["spec"] for d in docs if d["kind"] == "NetworkPolicy"]
    assert {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]} in policies, "no default-deny policy"
    for workload in (d for d in docs if d["kind"] in WORKLOADS):
        name = workload["metadata"]["name"]
        own = [p for p in policies if p["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name") == name]
        assert len(own) == 1, f"{overlay}: {workload['kind']}/{name} has {len(own)} network policies of its own"


def test_only_public_services_are_reachable_from_outside() -> None:
    docs = objects("staging")  # staging runs every service of the registry
    pods = pod_labels(docs)
    assert {spec.name for spec in SERVICES} <= set(pods)
    for name, labels in pods.items():
        expected = name in BY_NAME and BY_NAME[name].public
        assert reachable(docs, None, labels, HTTP) is expected, name
        assert not reachable(docs, None, labels, REDIS), name
    assert reachable(docs, None, pods["gateway"], HTTP)
    for spec in SERVICES:  # the layers behind the gateway are never exposed, whatever the flags say
        if spec.role in {"process", "system", "sandbox"}:
            assert not reachable(docs, None, pods[spec.name], HTTP), spec.name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_reach_exactly_the_upstreams_the_registry_names(overlay: str) -> None:
    docs = objects(overlay)
    pods = pod_labels(docs)
    present = [spec for spec in SERVICES if spec.name in pods]
    for src in present:
        for dst in present:
            allowed = reachable(docs, pods[src.name], pods[dst.name], HTTP)
            assert allowed is (dst.name in src.upstreams), f"{overlay}: {src.name} -> {dst.name}"


def test_system_apis_are_reachable_only_from_the_process_api() -> None:
    docs = objects("production")
    pods = pod_labels(docs)
    for system in ("crm", "erp", "planning"):
        callers = {name for name, labels in pods.items() if reachable(docs, labels, pods[system], HTTP)}
        assert callers == {"process"}, system
        assert not reachable(docs, None, pods[system], HTTP)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_redis_is_reachable_only_from_the_services_that_use_it(overlay: str) -> None:
    docs = objects(overlay)
    pods = pod_labels(docs)
    redis = pods["redis-cluster"]
    for name, labels in pods.items():
        if name in BY_NAME:
            assert reachable(docs, labels, redis, REDIS) is BY_NAME[name].uses_redis, name
    assert not reachable(docs, None, redis, REDIS)
    assert reachable(docs, pods["redis-cluster-create"], redis, REDIS)
    assert admits(docs, redis, redis, REDIS + 10000), "the nodes' cluster bus"


def test_in_production_the_services_may_call_the_vendors_and_issuer_over_https() -> None:
    docs = objects("production")
    pods = pod_labels(docs)
    for name in ("crm", "erp", "planning", "process", "gateway"):
        assert sends(docs, pods[name], None, 443), name
    assert not sends(docs, pods["redis-cluster"], None, 443)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_public_service_and_only_those_have_an_ingress(overlay: str) -> None:
    docs = objects(overlay)
    deployed = {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"}
    routed = {
        path["backend"]["service"]["name"]
        for d in docs
        if d["kind"] == "Ingress"
        for rule in d["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert routed == {name for name in deployed if BY_NAME[name].public}
    assert "gateway" in routed


def test_a_service_flagged_public_gets_an_ingress_and_admits_any_source() -> None:
    """The hook for services added later (an experience-layer console): `public=True` is all it takes."""
    console = ServiceSpec(
        name="console",
        factory="x:y",
        port=8500,
        role="experience",
        description="c",
        public=True,
        upstreams=("process",),
    )
    route = ingress(console)["spec"]["rules"][0]
    assert route["host"].startswith("console.")
    assert route["http"]["paths"][0]["backend"]["service"]["name"] == "console"
    policy = service_policy(console)
    assert policy["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": HTTP}]}]
