"""The single-machine compose file: every registry service with its port, settings and health check."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from deploy.manifests import COMPOSE_FILE, DEPLOY_DIR
from deploy.manifests.common import DEV_ONLY_ROLES
from deploy.services import BY_NAME, SERVICES, ServiceSpec

#: `${NAME}`, `${NAME:-default}` and `${NAME:?message}`: the interpolation forms the file may use.
VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?::[-?][^}]*)?\}")
SERVICE_KEYS = {
    "image", "build", "command", "environment", "env_file", "healthcheck", "depends_on", "restart", "read_only",
    "tmpfs", "cap_drop", "security_opt", "profiles", "ports", "volumes", "user",
}  # fmt: skip


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY_DIR / COMPOSE_FILE).read_text())
    return loaded


def _default(value: str) -> str:
    """`value` as compose sees it when no variable is set (the local, sandboxed configuration)."""
    return VARIABLE.sub(lambda m: m.group(0)[len(m.group(1)) + 4 : -1] if ":-" in m.group(0) else "", value)


def test_the_file_has_only_known_top_level_and_service_keys() -> None:
    compose = _compose()
    assert set(compose) == {"name", "services", "volumes"}
    for name, service in compose["services"].items():
        assert set(service) <= SERVICE_KEYS, name
        assert "image" in service, name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith(("./", "../", "${")) or source in compose["volumes"], f"{name}: {volume}"


@pytest.mark.parametrize("spec", SERVICES, ids=lambda s: s.name)
def test_every_registry_service_runs_with_its_port_settings_and_health_check(spec: ServiceSpec) -> None:
    service = _compose()["services"][spec.name]
    assert service["command"] == [spec.name]
    env = service["environment"]
    assert env["FIG_PORT"] == str(spec.port)
    assert env["FIG_HOST"] == "0.0.0.0"
    probe = " ".join(service["healthcheck"]["test"])
    assert f"http://127.0.0.1:{spec.port}/health/ready" in probe
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    if spec.uses_redis:
        assert env["FIG_REDIS_URL"] == "redis://redis:6379/0"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    else:
        assert "FIG_REDIS_URL" not in env
    assert (service.get("profiles") == ["sandboxes"]) is (spec.role in DEV_ONLY_ROLES)
    assert ("ports" in service) is spec.public
    if spec.public:
        assert service["ports"] == [f"{spec.port}:{spec.port}"]


@pytest.mark.parametrize("spec", SERVICES, ids=lambda s: s.name)
def test_every_url_a_service_gets_points_at_a_compose_service_on_its_port(spec: ServiceSpec) -> None:
    compose = _compose()
    for variable, value in compose["services"][spec.name]["environment"].items():
        for host, port in re.findall(r"https?://([a-z-]+):(\d+)", _default(value)):
            assert host in compose["services"], f"{spec.name} {variable}: {value}"
            if host != "redis":
                assert int(port) == BY_NAME[host].port, f"{spec.name} {variable}: {value}"
                assert host == spec.name or host in spec.upstreams, f"{spec.name} {variable}: {value}"


def test_secrets_are_required_from_the_environment_never_written_in_the_file() -> None:
    compose = _compose()
    for name in ("gateway", "process"):
        value = compose["services"][name]["environment"]["FIG_CLIENT_SECRET"]
        assert re.fullmatch(r"\$\{FIG_[A-Z_]+_CLIENT_SECRET:\?[^}]+\}", value), value
    for service in compose["services"].values():
        for variable, value in service.get("environment", {}).items():
            if re.search(r"SECRET|PASSWORD|TOKEN$|_KEY$", variable):
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", value), f"{variable} is written in the file"


def test_redis_persists_to_a_volume_with_the_append_only_file() -> None:
    compose = _compose()
    redis = compose["services"]["redis"]
    config = next(v for v in redis["volumes"] if v.endswith(":/usr/local/etc/redis/redis.conf:ro"))
    assert (DEPLOY_DIR / config.split(":")[0]).resolve().read_text().count("appendonly yes") == 1
    assert redis["command"][:2] == ["redis-server", "/usr/local/etc/redis/redis.conf"]
    assert "redis-data:/data" in redis["volumes"]
    assert "redis-data" in compose["volumes"]
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_the_sandboxes_keep_their_state_in_volumes() -> None:
    compose = _compose()
    for spec in SERVICES:
        if spec.role == "sandbox":
            service = compose["services"][spec.name]
            volume = f"{spec.name}-data"
            assert f"{volume}:{service['environment']['FIG_DATA_DIR']}" in service["volumes"]
            assert volume in compose["volumes"]
