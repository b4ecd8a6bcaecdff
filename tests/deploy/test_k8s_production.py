"""The production overlay: no sandbox, no dev IdP, every credential from a Secret, no dev value anywhere."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import msgspec
import pytest
import yaml

from deploy.manifests import K8S_DIR
from deploy.manifests.common import DEV_ONLY_ROLES, IDENTITY_CONFIG, VENDOR_CONFIG
from deploy.manifests.layers import PRODUCTION_SECRETS
from deploy.services import BY_NAME, SERVICES
from gateway.idp.devcredentials import ensure_dev_credentials
from gateway.idp.settings import IdpSettings
from gateway.settings import GatewaySettings
from process_apis.settings import ProcessSettings
from system_apis.crm.sandbox.settings import SalesforceSandboxSettings
from system_apis.crm.settings import CrmSettings
from system_apis.erp.devkey import dev_private_key_pem
from system_apis.erp.sandbox.settings import SandboxSettings as NetSuiteSandboxSettings
from system_apis.erp.settings import ErpSettings
from system_apis.planning.sandbox.settings import AnaplanSandboxSettings
from system_apis.planning.settings import PlanningSettings
from tests.deploy.k8s_support import KUBERNETES, objects, pod_spec

SETTINGS: dict[str, type[msgspec.Struct]] = {
    "gateway": GatewaySettings,
    "process": ProcessSettings,
    "crm": CrmSettings,
    "erp": ErpSettings,
    "planning": PlanningSettings,
    "idp": IdpSettings,
    "salesforce-sandbox": SalesforceSandboxSettings,
    "netsuite-sandbox": NetSuiteSandboxSettings,
    "anaplan-sandbox": AnaplanSandboxSettings,
}
#: Settings of a system API that name the vendor account or authenticate to it: their defaults are
#: the sandbox's dev tenant, so production must set every one of them.
VENDOR_ACCOUNT = re.compile(r"^(sf|ns|anaplan)_(.*_id|user|username|client_secret|password|key_path|auth_url)$")
SECRET_FIELD = re.compile(r"secret|password|token$|_key$")
#: A generated credential: 16+ URL-safe characters mixing upper case, lower case and digits.
GENERATED = re.compile(r"(?=[A-Za-z0-9_-]*[A-Z])(?=[A-Za-z0-9_-]*[a-z])(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]{16,}")


def _deployments() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in objects("production") if d["kind"] == "Deployment"}


def _env(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in pod_spec(deployment)["containers"][0]["env"]}


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_production_runs_no_sandbox_and_no_dev_identity_provider() -> None:
    names = {d["metadata"]["name"] for d in objects("production")}
    dev = {spec.name for spec in SERVICES if spec.role in DEV_ONLY_ROLES}
    assert not names & dev
    assert set(_deployments()) == {spec.name for spec in SERVICES if spec.role not in DEV_ONLY_ROLES}
    hosts = " ".join(s for d in objects("production") for s in _strings(d))
    for name in dev:
        assert f"{name}.fig.svc" not in hosts


def test_the_issuer_and_the_vendor_endpoints_come_from_the_operators_config_maps() -> None:
    for name, deployment in _deployments().items():
        env = _env(deployment)
        for variable in ("FIG_IDP_URL", "FIG_TOKEN_ISSUER", "FIG_JWKS_URL"):
            assert env[variable]["valueFrom"]["configMapKeyRef"]["name"] == IDENTITY_CONFIG, (name, variable)
        if BY_NAME[name].role == "system":
            assert env["FIG_SANDBOX_URL"]["valueFrom"]["configMapKeyRef"]["name"] == VENDOR_CONFIG, name
    assert not [
        d for d in objects("production") if d["kind"] == "ConfigMap" and d["metadata"]["name"] != "redis-cluster"
    ]


@pytest.mark.parametrize("name", ["gateway", "process", "crm", "erp", "planning"])
def test_every_credential_and_vendor_account_setting_is_set_in_production(name: str) -> None:
    deployment = _deployments()[name]
    env = _env(deployment)
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in pod_spec(deployment)["containers"][0]["volumeMounts"]}
    for field in msgspec.structs.fields(SETTINGS[name]):
        variable = f"FIG_{field.name.upper()}"
        if field.name == "client_secret" or (SECRET_FIELD.search(field.name) and isinstance(field.default, str)):
            assert "secretKeyRef" in env[variable]["valueFrom"], variable
        elif VENDOR_ACCOUNT.match(field.name):
            assert variable in env, f"{name}: {variable} would keep the sandbox's dev value"
            if field.name.endswith("_path"):  # a key file: mounted from a Secret
                directory = str(Path(env[variable]["value"]).parent)
                assert "secret" in volumes[mounts[directory]], variable


def test_no_dev_secret_or_generated_credential_is_in_any_production_object(tmp_path: Path) -> None:
    docs = objects("production")
    text = (K8S_DIR / "rendered" / "production.yaml").read_text()
    dev_values: set[str] = set()
    for name, settings in SETTINGS.items():
        sandbox = BY_NAME[name].role == "sandbox"  # every id a sandbox is seeded with is a dev tenant's
        for field in msgspec.structs.fields(settings):
            dev = (
                SECRET_FIELD.search(field.name) or VENDOR_ACCOUNT.match(field.name) or (sandbox and "_id" in field.name)
            )
            if dev and isinstance(field.default, str) and len(field.default) >= 6:
                dev_values.add(field.default)
    credentials = ensure_dev_credentials(tmp_path)
    dev_values |= {*credentials.client_secrets.values(), *credentials.passwords.values(), credentials.admin_token}
    dev_values |= set(dev_private_key_pem().decode().splitlines()[1:-1])
    assert len(dev_values) > 20
    found = sorted(v for v in dev_values if v in text)
    assert not found, f"dev values in the production overlay: {found}"
    assert "-----BEGIN" not in text
    assert not [d for d in docs if d["kind"] == "Secret"], "Secrets are the operator's, never rendered"
    strings = [s for d in docs if d["kind"] != "ConfigMap" for s in _strings(d)]
    assert not [s for s in strings if GENERATED.search(s)]
    for deployment in _deployments().values():
        for variable, entry in _env(deployment).items():
            if re.search(r"SECRET|PASSWORD", variable):
                assert "value" not in entry, variable


def test_the_documented_production_secrets_are_exactly_those_referenced() -> None:
    referenced: dict[str, set[str]] = {}
    for deployment in _deployments().values():
        for entry in _env(deployment).values():
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                referenced.setdefault(ref["name"], set()).add(ref["key"])
        for volume in pod_spec(deployment)["volumes"]:
            if "secret" in volume:
                items = volume["secret"].get("items", [])
                referenced.setdefault(volume["secret"]["secretName"], set()).update(i["key"] for i in items)
    assert referenced == {name: set(keys) for name, keys in PRODUCTION_SECRETS.items()}


def test_the_operators_form_lists_every_key_production_reads_with_no_value() -> None:
    form = [doc for doc in yaml.safe_load_all((K8S_DIR / "examples" / "production-inputs.yaml").read_text()) if doc]
    provided = {
        (d["kind"], d["metadata"]["name"], key)
        for d in form
        for key in {**d.get("data", {}), **d.get("stringData", {})}
    }
    assert all(value == "" for d in form for value in {**d.get("data", {}), **d.get("stringData", {})}.values())
    needed: set[tuple[str, str, str]] = set()
    for deployment in _deployments().values():
        for entry in _env(deployment).values():
            source = entry.get("valueFrom", {})
            if "configMapKeyRef" in source:
                needed.add(("ConfigMap", source["configMapKeyRef"]["name"], source["configMapKeyRef"]["key"]))
            if "secretKeyRef" in source:
                needed.add(("Secret", source["secretKeyRef"]["name"], source["secretKeyRef"]["key"]))
    for ingress in (d for d in objects("production") if d["kind"] == "Ingress"):
        needed |= {("Secret", ingress["spec"]["tls"][0]["secretName"], key) for key in ("tls.crt", "tls.key")}
    assert needed <= provided
    assert {name for kind, name, _ in provided if kind == "Secret"} >= set(PRODUCTION_SECRETS)
    for doc in form:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
