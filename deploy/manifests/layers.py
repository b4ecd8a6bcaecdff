"""The Kustomize base and the `staging` and `production` overlays, built from the service registry.

- base: namespace, Redis Cluster, the services every environment runs (gateway, process API, system
  APIs) with their network policies and, for `public` ones, an Ingress. It names the identity
  provider and the vendors only through the `fig-identity` and `fig-vendors` ConfigMaps and every
  credential only through Secrets.
- staging: adds the dev identity provider and the vendor sandboxes, and the two ConfigMaps pointing
  at them; vendor credentials keep the defaults the sandboxes are seeded with.
- production: no sandbox and no dev identity provider. The operator creates the ConfigMaps (real
  issuer, JWKS and vendor URLs) and the Secrets; patches make every vendor credential and account
  identifier come from them, so no dev default can be used against a real tenant.
"""

from __future__ import annotations

from typing import Any

from deploy.manifests.common import (
    IDENTITY_CONFIG,
    NAMESPACE,
    VENDOR_CONFIG,
    base_services,
    dev_services,
    vendor_key,
)
from deploy.manifests.kustomize import Layer, Patch
from deploy.manifests.network import default_deny, ingress, service_policy
from deploy.manifests.redis import redis_cluster
from deploy.manifests.workloads import config_env, secret_env, service_objects
from deploy.services import ServiceSpec

__all__ = ["PRODUCTION_SECRETS", "base_layer", "production_inputs", "production_layer", "staging_layer"]

_CONTAINER = "/spec/template/spec/containers/0"

#: Per system API: the variables production sets from the operator's `fig-vendors` ConfigMap (key)
#: or from a Secret (secret, key).
_VENDOR_SETTINGS: dict[str, list[tuple[str, str] | tuple[str, str, str]]] = {
    "crm": [
        ("FIG_SF_CLIENT_ID", "salesforce-client-id"),
        ("FIG_SF_CLIENT_SECRET", "fig-salesforce", "client-secret"),
        ("FIG_SF_USERNAME", "salesforce-username"),
    ],
    "erp": [
        ("FIG_NS_ACCOUNT_ID", "netsuite-account-id"),
        ("FIG_NS_CLIENT_ID", "fig-netsuite", "client-id"),
        ("FIG_NS_KEY_ID", "netsuite-certificate-id"),
    ],
    "planning": [
        ("FIG_ANAPLAN_AUTH_URL", "anaplan-auth-url"),
        ("FIG_ANAPLAN_USER", "fig-anaplan", "user"),
        ("FIG_ANAPLAN_PASSWORD", "fig-anaplan", "password"),
        *(
            (f"FIG_ANAPLAN_{field.upper()}", "anaplan-" + field.replace("_", "-"))
            for field in (
                "workspace_id",
                "model_id",
                "bookings_import_id",
                "bookings_file_id",
                "bookings_export_id",
                "actuals_import_id",
                "actuals_file_id",
                "actuals_export_id",
            )
        ),
    ],
}

#: The NetSuite certificate's private key, mounted as a file (`FIG_NS_KEY_PATH`).
_NETSUITE_KEY = ("fig-netsuite", "private-key.pem", "/etc/fig/netsuite")

#: Secret name -> keys production reads (besides `<service>-tls` for each Ingress).
PRODUCTION_SECRETS = {
    "fig-gateway-client": ["client-secret"],
    "fig-process-client": ["client-secret"],
    "fig-console-client": ["client-secret"],
    "fig-salesforce": ["client-secret"],
    "fig-netsuite": ["client-id", "private-key.pem"],
    "fig-anaplan": ["user", "password"],
}


def _service_file(spec: ServiceSpec) -> list[dict[str, Any]]:
    docs = [*service_objects(spec), service_policy(spec)]
    if spec.public:
        docs.append(ingress(spec))
    return docs


def base_layer() -> Layer:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    resources = {
        "namespace.yaml": [namespace, default_deny()],
        "redis-cluster.yaml": redis_cluster(),
    }
    resources.update({f"{spec.name}.yaml": _service_file(spec) for spec in base_services()})
    return Layer(resources=resources)


def staging_layer(base: Layer) -> Layer:
    idp = f"http://idp.{NAMESPACE}.svc"
    config = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": IDENTITY_CONFIG, "namespace": NAMESPACE},
            "data": {"idp-url": idp, "issuer": idp, "jwks-url": f"{idp}/.well-known/jwks.json"},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": VENDOR_CONFIG, "namespace": NAMESPACE},
            "data": {
                vendor_key(spec.name): f"http://{spec.name}.{NAMESPACE}.svc"
                for spec in dev_services()
                if spec.role == "sandbox"
            },
        },
    ]
    resources = {"config.yaml": config}
    resources.update({f"{spec.name}.yaml": _service_file(spec) for spec in dev_services()})
    return Layer(bases=[("../../base", base)], resources=resources)


def _vendor_patch(service: str) -> Patch:
    ops: list[dict[str, Any]] = []
    for item in _VENDOR_SETTINGS[service]:
        env = config_env(item[0], VENDOR_CONFIG, item[1]) if len(item) == 2 else secret_env(*item)
        ops.append({"op": "add", "path": f"{_CONTAINER}/env/-", "value": env})
    if service == "erp":
        secret, key, directory = _NETSUITE_KEY
        ops += [
            {
                "op": "add",
                "path": f"{_CONTAINER}/env/-",
                "value": {"name": "FIG_NS_KEY_PATH", "value": f"{directory}/{key}"},
            },
            {
                "op": "add",
                "path": f"{_CONTAINER}/volumeMounts/-",
                "value": {"name": "netsuite-key", "mountPath": directory, "readOnly": True},
            },
            {
                "op": "add",
                "path": "/spec/template/spec/volumes/-",
                "value": {
                    "name": "netsuite-key",
                    "secret": {"secretName": secret, "items": [{"key": key, "path": key}]},
                },
            },
        ]
    return Patch(file=f"{service}-vendor.yaml", kind="Deployment", name=service, ops=ops)


def production_layer(base: Layer) -> Layer:
    return Layer(bases=[("../../base", base)], patches=[_vendor_patch(name) for name in _VENDOR_SETTINGS])


def production_inputs(built: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Empty ConfigMaps and Secrets with every key the built production overlay reads: the operator's form.

    Derived from the references themselves, so it lists exactly what a pod would otherwise wait for.
    """
    config: dict[str, dict[str, str]] = {}
    secrets: dict[str, dict[str, str]] = {}
    for doc in built:
        if doc["kind"] != "Deployment":
            continue
        pod = doc["spec"]["template"]["spec"]
        for env in pod["containers"][0]["env"]:
            source = env.get("valueFrom", {})
            if "configMapKeyRef" in source:
                config.setdefault(source["configMapKeyRef"]["name"], {})[source["configMapKeyRef"]["key"]] = ""
            if "secretKeyRef" in source:
                secrets.setdefault(source["secretKeyRef"]["name"], {})[source["secretKeyRef"]["key"]] = ""
        for volume in pod["volumes"]:
            if "secret" in volume:
                keys = secrets.setdefault(volume["secret"]["secretName"], {})
                keys.update({item["key"]: "" for item in volume["secret"].get("items", [])})
    meta = {"namespace": NAMESPACE}
    found: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, **meta},
            "data": dict(sorted(keys.items())),
        }
        for name, keys in sorted(config.items())
    ]
    found += [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, **meta},
            "type": "Opaque",
            "stringData": dict(sorted(keys.items())),
        }
        for name, keys in sorted(secrets.items())
    ]
    tls = [doc["spec"]["tls"][0]["secretName"] for doc in built if doc["kind"] == "Ingress"]
    found += [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, **meta},
            "type": "kubernetes.io/tls",
            "stringData": {"tls.crt": "", "tls.key": ""},
        }
        for name in tls
    ]
    return found
