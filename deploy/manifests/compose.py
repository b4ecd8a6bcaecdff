"""The single-machine deployment: a Compose file rendered from the same registry as the Kubernetes manifests.

Every service of the registry with the variables `fig up` gives it, one Redis with append-only
persistence on a named volume, and the dev identity provider and vendor sandboxes under the
`sandboxes` profile. Without that profile the identity provider and vendor URLs come from the
environment (`FIG_IDP_URL`, `FIG_TOKEN_ISSUER`, `FIG_JWKS_URL`, `SALESFORCE_URL`, ...) and vendor
credentials from optional per-service env files (`deploy/env/<service>.env`, never committed).
"""

from __future__ import annotations

from typing import Any

from deploy.manifests.common import DEV_ONLY_ROLES, IMAGE, vendor_key
from deploy.manifests.redis import REDIS_IMAGE
from deploy.services import BY_NAME, SERVICES, ServiceSpec, service_env

__all__ = ["PROFILE", "compose"]

PROFILE = "sandboxes"
_REDIS_URL = "redis://redis:6379/0"
_DATA_DIR = "/var/lib/fig"
_SECRET_VARIABLES = {
    "process": "FIG_PROCESS_CLIENT_SECRET",
    "gateway": "FIG_GATEWAY_CLIENT_SECRET",
    "console": "FIG_CONSOLE_CLIENT_SECRET",
}
#: Where a variable pointing at the dev identity provider can be overridden from the environment.
_IDENTITY_VARIABLES = {
    "FIG_IDP_URL": "FIG_IDP_URL",
    "FIG_TOKEN_ISSUER": "FIG_TOKEN_ISSUER",
    "FIG_ISSUER": "FIG_TOKEN_ISSUER",
}


def _environment(spec: ServiceSpec) -> dict[str, str]:
    ports = {s.name: s.port for s in SERVICES}
    local = {f"http://127.0.0.1:{s.port}": s.name for s in SERVICES}
    env: dict[str, str] = {}
    for key, value in service_env(spec.name, ports, _REDIS_URL, _DATA_DIR, fast=False).items():
        target = local.get(value)
        if target is not None and target != spec.name and target not in spec.upstreams:
            continue  # a common setting this service never uses (the sandboxes do not call the IdP)
        if target is None:
            env[key] = value
            continue
        url = f"http://{target}:{BY_NAME[target].port}"
        if target == "idp":
            env[key] = f"${{{_IDENTITY_VARIABLES[key]}:-{url}}}"
        elif BY_NAME[target].role == "sandbox":
            env[key] = f"${{{vendor_key(target).upper().replace('-', '_')}:-{url}}}"
        else:
            env[key] = url
    env["FIG_HOST"] = "0.0.0.0"  # noqa: S104 - inside the compose network
    if "FIG_IDP_URL" in env:
        env["FIG_JWKS_URL"] = f"${{FIG_JWKS_URL:-http://idp:{BY_NAME['idp'].port}/.well-known/jwks.json}}"
    if spec.name in _SECRET_VARIABLES:
        variable = _SECRET_VARIABLES[spec.name]
        env["FIG_CLIENT_SECRET"] = (
            f"${{{variable}:?{variable} is required, the {spec.name} client secret at the issuer}}"
        )
    if spec.name == "idp":
        env.update(FIG_CLIENTS_PATH="/etc/fig/idp/clients.json", FIG_USERS_PATH="/etc/fig/idp/users.json")
    if spec.role == "sandbox":
        env["FIG_DATA_DIR"] = _DATA_DIR  # the service's own volume
    else:
        env.pop("FIG_DATA_DIR", None)
    if not spec.uses_redis:
        env.pop("FIG_REDIS_URL", None)
    return dict(sorted(env.items()))


def _healthcheck(port: int) -> dict[str, Any]:
    probe = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/health/ready', timeout=2)"
    return {
        "test": ["CMD", "python", "-c", probe],
        "interval": "5s",
        "timeout": "3s",
        "retries": 5,
        "start_period": "10s",
    }


def _service(spec: ServiceSpec) -> dict[str, Any]:
    found: dict[str, Any] = {
        "image": IMAGE,
        "build": {"context": "..", "dockerfile": "deploy/container/Containerfile"},
        "command": [spec.name],
        "environment": _environment(spec),
        "healthcheck": _healthcheck(spec.port),
        "restart": "unless-stopped",
        "read_only": True,
        "tmpfs": ["/tmp"],  # noqa: S108 - a private tmpfs
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
    }
    if spec.uses_redis:
        found["depends_on"] = {"redis": {"condition": "service_healthy"}}
    if spec.role in DEV_ONLY_ROLES:
        found["profiles"] = [PROFILE]
    else:
        found["env_file"] = [{"path": f"env/{spec.name}.env", "required": False}]
    if spec.public:
        found["ports"] = [f"{spec.port}:{spec.port}"]
    if spec.role == "sandbox":
        found["volumes"] = [f"{spec.name}-data:{_DATA_DIR}"]
    if spec.name == "idp":
        # The generated registries are owner-only files: the IdP runs as their owner (`FIG_UID=$(id -u)`).
        found["user"] = "${FIG_UID:-10001}"
        found["volumes"] = ["${FIG_CREDENTIALS_DIR:-../var/credentials}:/etc/fig/idp:ro"]
    return found


def compose() -> dict[str, Any]:
    """The compose file's content (written to deploy/compose.yaml)."""
    redis = {
        "image": REDIS_IMAGE,
        "command": ["redis-server", "/usr/local/etc/redis/redis.conf", "--dir", "/data"],
        "volumes": ["./redis/redis.conf:/usr/local/etc/redis/redis.conf:ro", "redis-data:/data"],
        "healthcheck": {"test": ["CMD", "redis-cli", "ping"], "interval": "5s", "timeout": "3s", "retries": 5},
        "restart": "unless-stopped",
    }
    services: dict[str, Any] = {"redis": redis}
    services.update({spec.name: _service(spec) for spec in SERVICES})
    volumes: dict[str, Any] = {"redis-data": {}}
    volumes.update({f"{spec.name}-data": {} for spec in SERVICES if spec.role == "sandbox"})
    return {"name": "fig", "services": services, "volumes": volumes}
