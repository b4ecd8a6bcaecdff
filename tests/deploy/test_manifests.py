"""The Kubernetes manifests match the service registry, and every variable they set is read."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import yaml

from deploy.manifests import K8S_DIR, render_manifests
from deploy.services import SERVICES, load_factory, service_env
from gateway.idp.devcredentials import ensure_dev_credentials


def test_committed_manifests_match_the_registry() -> None:
    for name, text in render_manifests().items():
        assert (K8S_DIR / name).read_text() == text, f"deploy/k8s/{name} drifted: run `fig manifests render`"


def deployments() -> dict[str, dict[str, object]]:
    found = {}
    for name in render_manifests():
        for doc in yaml.safe_load_all((K8S_DIR / name).read_text()):
            if doc and doc["kind"] == "Deployment":
                found[doc["metadata"]["name"]] = doc
    return found


def test_every_service_is_deployed_with_health_probes() -> None:
    deployed = deployments()
    assert set(deployed) == {spec.name for spec in SERVICES}
    for doc in deployed.values():
        container = doc["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"


@pytest.mark.parametrize("spec", SERVICES, ids=lambda s: s.name)
def test_every_variable_a_deployment_sets_is_a_setting_of_that_service(
    spec: object, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    name = spec.name  # type: ignore[attr-defined]
    monkeypatch.setenv("FIG_REDIS_URL", "redis://127.0.0.1:1/0")
    # The IdP's registry comes from an operator's Secret in the cluster; here, a generated one.
    monkeypatch.setenv("FIG_CLIENTS_PATH", ensure_dev_credentials(tmp_path).clients_path)
    settings_type = type(load_factory(name)().state.settings)
    known = {f"FIG_{field.name.upper()}" for field in msgspec.structs.fields(settings_type)}
    container = deployments()[name]["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    unread = {e["name"] for e in container["env"]} - known - {"FIG_WORKERS", "FIG_SERVER_LOG_LEVEL"}
    assert not unread, f"{name} ignores {sorted(unread)}"


def test_four_eyes_is_on_in_the_local_stack_and_the_manifests() -> None:
    ports = dict.fromkeys((spec.name for spec in SERVICES), 1)
    assert service_env("process", ports, "redis://127.0.0.1:1/0", "/tmp/fig")["FIG_FOUR_EYES"] == "true"
    container = deployments()["process"]["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    assert {"name": "FIG_FOUR_EYES", "value": "true"} in container["env"]
