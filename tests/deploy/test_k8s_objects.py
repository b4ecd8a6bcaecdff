"""Every object of every overlay is valid Kubernetes (strict schemas) and every workload is hardened and probed."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pytest
import yaml

from deploy.manifests import K8S_DIR, OVERLAYS
from tests.deploy.k8s_support import KUBERNETES, WORKLOADS, objects, pod_spec


def _validate(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_of_an_overlay_is_valid_for_a_current_kubernetes(overlay: str) -> None:
    docs = objects(overlay)
    assert docs
    for doc in docs:
        try:
            _validate(doc)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{overlay}: {doc['kind']}/{doc['metadata']['name']}: {exc}")


def test_every_object_of_the_base_is_valid_for_a_current_kubernetes() -> None:
    for path in sorted((K8S_DIR / "base").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            _validate(doc)


def test_the_validation_is_strict_about_unknown_fields() -> None:
    deployment = next(d for d in objects("production") if d["kind"] == "Deployment")
    typo = copy.deepcopy(deployment)
    container = pod_spec(typo)["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(typo)


def _workloads(overlay: str) -> list[dict[str, Any]]:
    return [d for d in objects(overlay) if d["kind"] in WORKLOADS]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_runs_unprivileged_with_requests_and_limits(overlay: str) -> None:
    for workload in _workloads(overlay):
        name = f"{overlay}: {workload['kind']}/{workload['metadata']['name']}"
        pod = pod_spec(workload)
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"]:
            security = container.get("securityContext", {})
            assert security.get("allowPrivilegeEscalation") is False, name
            assert security.get("readOnlyRootFilesystem") is True, name
            assert security.get("capabilities") == {"drop": ["ALL"]}, name
            for kind in ("requests", "limits"):
                assert set(container.get("resources", {}).get(kind, {})) == {"cpu", "memory"}, f"{name} {kind}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_long_running_workload_is_probed_on_its_health_endpoints(overlay: str) -> None:
    for workload in _workloads(overlay):
        if workload["kind"] == "Job":
            continue
        container = pod_spec(workload)["containers"][0]
        name = f"{overlay}: {workload['metadata']['name']}"
        assert "readinessProbe" in container, name
        assert "livenessProbe" in container, name
        if workload["kind"] == "Deployment":
            assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready", name
            assert container["livenessProbe"]["httpGet"]["path"] == "/health/live", name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_autoscaled_services_have_a_disruption_budget_and_no_fixed_replica_count(overlay: str) -> None:
    docs = objects(overlay)
    scaled = {d["spec"]["scaleTargetRef"]["name"] for d in docs if d["kind"] == "HorizontalPodAutoscaler"}
    budgets = {d["metadata"]["name"] for d in docs if d["kind"] == "PodDisruptionBudget"}
    assert {"gateway", "process", "crm", "erp", "planning"} <= scaled
    assert scaled <= budgets
    for doc in docs:
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] in scaled:
            assert "replicas" not in doc["spec"], "the autoscaler owns the replica count"


def test_the_redis_cluster_keeps_six_persistent_nodes() -> None:
    for overlay in OVERLAYS:
        (redis,) = [d for d in objects(overlay) if d["kind"] == "StatefulSet"]
        assert redis["spec"]["replicas"] == 6
        assert redis["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
        (config,) = [
            d for d in objects(overlay) if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "redis-cluster"
        ]
        assert "appendonly yes" in config["data"]["redis.conf"]
        assert "cluster-enabled yes" in config["data"]["redis.conf"]
