"""The committed deployment files match the registry; the Kustomize layers build to the committed overlays."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from click.testing import CliRunner

from deploy.manifests import DEPLOY_DIR, K8S_DIR, OVERLAYS, render_all
from deploy.manifests.kustomize import KustomizeError, apply_json_patch, build_directory
from deploy.services import BY_NAME, SERVICES, load_factory, service_env
from gateway.idp.devcredentials import ensure_dev_credentials
from tests.deploy.k8s_support import objects


def test_committed_deployment_files_match_the_registry() -> None:
    rendered = render_all()
    for name, text in rendered.items():
        assert (DEPLOY_DIR / name).read_text() == text, f"deploy/{name} drifted: run `fig manifests render`"
    committed = {str(p.relative_to(DEPLOY_DIR)) for p in K8S_DIR.rglob("*.yaml")}
    stale = committed - set(rendered)
    assert not stale, f"not rendered from the registry any more: {sorted(stale)} (run `fig manifests render`)"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_builds_from_its_committed_kustomization_to_the_committed_rendering(overlay: str) -> None:
    assert build_directory(K8S_DIR / "overlays" / overlay) == objects(overlay)


@pytest.mark.parametrize("layer", ["base", *(f"overlays/{o}" for o in OVERLAYS)])
def test_every_file_of_a_layer_is_used_by_its_kustomization(layer: str) -> None:
    directory = K8S_DIR / layer
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    used = {r for r in spec.get("resources", []) if (directory / r).is_file()}
    used |= {p["path"] for p in spec.get("patches", [])}
    present = {p.name for p in directory.glob("*.yaml")} - {"kustomization.yaml"}
    assert present == used, f"{layer}: files not in kustomization.yaml: {sorted(present - used)}"


def test_the_overlays_build_on_the_base() -> None:
    for overlay in OVERLAYS:
        spec = yaml.safe_load((K8S_DIR / "overlays" / overlay / "kustomization.yaml").read_text())
        assert spec["resources"][0] == "../../base"


def test_the_builder_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\nnamePrefix: x-\n")
    with pytest.raises(KustomizeError, match="namePrefix"):
        build_directory(tmp_path)
    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    with pytest.raises(KustomizeError, match=r"missing\.yaml"):
        build_directory(tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        "resources: []\npatches:\n- path: p.yaml\n  target: {kind: Deployment, name: nowhere}\n"
    )
    (tmp_path / "p.yaml").write_text("[]\n")
    with pytest.raises(KustomizeError, match="0 objects are Deployment/nowhere"):
        build_directory(tmp_path)


def test_json_patches_follow_rfc_6902() -> None:
    doc: dict[str, Any] = {"a": {"b": [1, 2], "c~/d": 0}}
    ops: list[dict[str, Any]] = [
        {"op": "add", "path": "/a/b/-", "value": 3},
        {"op": "add", "path": "/a/b/0", "value": 0},
        {"op": "replace", "path": "/a/c~0~1d", "value": 9},
        {"op": "remove", "path": "/a/b/1"},
    ]
    assert apply_json_patch(doc, ops) == {"a": {"b": [0, 2, 3], "c~/d": 9}}
    assert doc == {"a": {"b": [1, 2], "c~/d": 0}}, "the input is left alone"


def _deployments() -> dict[str, dict[str, Any]]:
    """Service name -> its Deployment, from every overlay (production's patched ones win)."""
    found: dict[str, dict[str, Any]] = {}
    for overlay in OVERLAYS:
        found.update({d["metadata"]["name"]: d for d in objects(overlay) if d["kind"] == "Deployment"})
    return found


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
    container = _deployments()[name]["spec"]["template"]["spec"]["containers"][0]
    unread = {e["name"] for e in container["env"]} - known - {"FIG_WORKERS", "FIG_SERVER_LOG_LEVEL"}
    assert not unread, f"{name} ignores {sorted(unread)}"


@pytest.mark.parametrize("spec", SERVICES, ids=lambda s: s.name)
def test_a_service_declares_every_service_it_is_configured_to_call(spec: object) -> None:
    """The network policies admit exactly the declared `upstreams`: a URL setting without one would be blocked."""
    name = spec.name  # type: ignore[attr-defined]
    ports = {s.name: s.port for s in SERVICES}
    local = {f"http://127.0.0.1:{s.port}": s.name for s in SERVICES}
    env = service_env(name, ports, "redis://127.0.0.1:1/0", "/tmp/data")
    called = {local[v] for v in env.values() if v in local} - {name}
    if BY_NAME[name].role == "sandbox":
        # Sandboxes emulate vendors with the vendors' own auth: they never ask our identity provider.
        called.discard("idp")
    assert called == set(BY_NAME[name].upstreams)
    assert all(re.fullmatch(r"[a-z][a-z-]*", u) and u in BY_NAME for u in BY_NAME[name].upstreams)


def test_render_writes_every_file_and_removes_those_no_longer_rendered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import deploy.manifests
    from deploy.cli import main

    stale = tmp_path / "k8s" / "fig.yaml"
    stale.parent.mkdir()
    stale.write_text("kind: Namespace\n")
    monkeypatch.setattr(deploy.manifests, "DEPLOY_DIR", tmp_path)
    monkeypatch.setattr(deploy.manifests, "K8S_DIR", tmp_path / "k8s")
    result = CliRunner().invoke(main, ["manifests", "render"])
    assert result.exit_code == 0, result.output
    assert not stale.exists()
    for name, text in render_all().items():
        assert (tmp_path / name).read_text() == text


def test_four_eyes_is_on_in_the_local_stack_and_the_manifests() -> None:
    ports = dict.fromkeys((spec.name for spec in SERVICES), 1)
    assert service_env("process", ports, "redis://127.0.0.1:1/0", "/tmp/fig")["FIG_FOUR_EYES"] == "true"
    for name, text in render_all().items():
        if name.startswith("k8s/rendered/"):
            assert re.search(
                r"- name: FIG_FOUR_EYES\n\s+value: 'true'|- name: FIG_FOUR_EYES\n\s+value: \"true\"", text
            ), name
