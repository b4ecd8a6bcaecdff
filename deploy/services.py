"""The stack's processes: what each one runs, on which port, and what it needs to know of the others."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from deploy.tls import LocalTls
    from gateway.idp.devcredentials import DevCredentials

__all__ = ["BY_NAME", "SERVICES", "ServiceSpec", "StackPorts", "load_factory", "service_env", "service_url"]


class ServiceSpec(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    factory: str
    port: int
    role: str
    description: str
    #: SIGHUP reloads the service in place (its workers get the signal) instead of respawning workers.
    reload_in_worker: bool = False
    #: Reachable from outside the deployment: the Kubernetes Ingress routes to it, the network policies
    #: admit any source, and compose publishes its port. Everything else is reachable only from the
    #: services that name it in `upstreams`.
    public: bool = False
    #: The services this one calls; the deployments' network policies admit exactly these paths.
    upstreams: tuple[str, ...] = ()
    #: Keeps state in the shared Redis (the sandboxes keep theirs in their own data directory).
    uses_redis: bool = True


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        name="idp",
        factory="gateway.idp.app:create_app",
        port=8400,
        role="idp",
        public=True,
        description="dev identity provider (client credentials, JWKS)",
    ),
    ServiceSpec(
        name="salesforce-sandbox",
        factory="system_apis.crm.sandbox.app:create_app",
        port=8301,
        role="sandbox",
        uses_redis=False,
        description="Salesforce REST sandbox",
    ),
    ServiceSpec(
        name="netsuite-sandbox",
        factory="system_apis.erp.sandbox.app:create_app",
        port=8302,
        role="sandbox",
        uses_redis=False,
        description="NetSuite SuiteTalk REST sandbox",
    ),
    ServiceSpec(
        name="anaplan-sandbox",
        factory="system_apis.planning.sandbox.app:create_app",
        port=8303,
        role="sandbox",
        uses_redis=False,
        description="Anaplan Integration API v2 sandbox",
    ),
    ServiceSpec(
        name="crm",
        factory="system_apis.crm.app:create_app",
        port=8201,
        role="system",
        upstreams=("idp", "salesforce-sandbox"),
        description="CRM system API",
    ),
    ServiceSpec(
        name="erp",
        factory="system_apis.erp.app:create_app",
        port=8202,
        role="system",
        upstreams=("idp", "netsuite-sandbox"),
        description="ERP system API",
    ),
    ServiceSpec(
        name="planning",
        factory="system_apis.planning.app:create_app",
        port=8203,
        role="system",
        upstreams=("idp", "anaplan-sandbox"),
        description="planning system API",
    ),
    ServiceSpec(
        name="process",
        factory="process_apis.app:create_app",
        port=8100,
        role="process",
        upstreams=("idp", "crm", "erp", "planning"),
        description="process API (finance workflows)",
    ),
    ServiceSpec(
        name="gateway",
        factory="gateway.entry:create_entry",
        reload_in_worker=True,
        port=8000,
        role="gateway",
        public=True,
        upstreams=("idp", "process"),
        description="policy gateway (public entry point)",
    ),
    ServiceSpec(
        name="console",
        factory="experience.app:create_app",
        port=8500,
        role="experience",
        public=True,
        upstreams=("gateway", "idp"),
        description="operations console (web pages for finance operations)",
    ),
)

BY_NAME = {spec.name: spec for spec in SERVICES}

StackPorts = Mapping[str, int]


def load_factory(name: str) -> Callable[..., Any]:
    """The `create_app` of service `name`, imported lazily so `fig --help` stays fast."""
    module_name, _, attr = BY_NAME[name].factory.partition(":")
    factory: Callable[..., Any] = getattr(importlib.import_module(module_name), attr)
    return factory


def _url(ports: StackPorts, name: str, tls: LocalTls | None = None) -> str:
    return service_url(name, ports[name], https=tls is not None)


def service_url(name: str, port: int, *, https: bool = False) -> str:
    """Where service `name` answers on the local stack: sandboxes over HTTPS when `https`."""
    scheme = "https" if https and BY_NAME[name].role == "sandbox" else "http"
    return f"{scheme}://127.0.0.1:{port}"


def service_env(
    name: str,
    ports: StackPorts,
    redis_url: str,
    data_dir: str,
    *,
    fast: bool = True,
    credentials: DevCredentials | None = None,
    tls: LocalTls | None = None,
) -> dict[str, str]:
    """The FIG_ variables one process of the local stack gets.

    `credentials` are the stack's generated dev secrets (`gateway.idp.devcredentials`): the IdP
    gets its hashed registries and admin token, the process API and the gateway their client secrets.
    `fast` shortens the vendor-paced timings (Anaplan task polling, change-feed intervals) so a
    local demo completes in seconds; production keeps the vendors' recommended values. With `tls`
    the sandboxes serve HTTPS with its certificate and the system APIs trust its CA.
    """
    env = {
        "FIG_PORT": str(ports[name]),
        "FIG_HOST": "127.0.0.1",
        "FIG_REDIS_URL": redis_url,
        "FIG_IDP_URL": _url(ports, "idp"),
        "FIG_TOKEN_ISSUER": _url(ports, "idp"),
        "FIG_DATA_DIR": f"{data_dir}/{name}",
    }
    sandbox_of = {"crm": "salesforce-sandbox", "erp": "netsuite-sandbox", "planning": "anaplan-sandbox"}
    if name in sandbox_of:
        env["FIG_SANDBOX_URL"] = _url(ports, sandbox_of[name], tls)
        if tls is not None:
            env["FIG_SANDBOX_CA_BUNDLE"] = str(tls.ca_bundle)
    if tls is not None and BY_NAME[name].role == "sandbox":
        env.update(FIG_TLS_CERTIFICATE=str(tls.certificate), FIG_TLS_KEY=str(tls.key))
    if name == "idp":
        env["FIG_ISSUER"] = _url(ports, "idp")
        if credentials is not None:
            env.update(
                FIG_CLIENTS_PATH=credentials.clients_path,
                FIG_USERS_PATH=credentials.users_path,
                FIG_ADMIN_ENABLED="true",
                FIG_ADMIN_TOKEN=credentials.admin_token,
                # The console's local dev origin (the fig-console client's redirect URIs).
                FIG_CONSOLE_ORIGIN="http://127.0.0.1:5173",
            )
    if name == "process":
        env.update(
            FIG_CRM_URL=_url(ports, "crm"), FIG_ERP_URL=_url(ports, "erp"), FIG_PLANNING_URL=_url(ports, "planning")
        )
        # Four eyes on, stated where operators read the configuration (it is also the default).
        env["FIG_FOUR_EYES"] = "true"
        if credentials is not None:
            env["FIG_CLIENT_SECRET"] = credentials.client_secret("process-api")
    if name == "gateway":
        env["FIG_PROCESS_URL"] = _url(ports, "process")
        if credentials is not None:
            env["FIG_CLIENT_SECRET"] = credentials.client_secret("gateway")
    if name == "console":
        # People open the console itself; its /auth/callback is the redirect URI registered at the IdP.
        env.update(FIG_PUBLIC_URL=_url(ports, "console"), FIG_GATEWAY_URL=_url(ports, "gateway"))
        if credentials is not None:
            env["FIG_CLIENT_SECRET"] = credentials.client_secret("console")
    if fast:
        env.update(
            {
                "erp": {"FIG_FEED_INTERVAL": "0.5"},
                "crm": {"FIG_FEED_INTERVAL": "1"},
                # One call per feed poll would exhaust a realistic 15,000-call allocation in hours.
                "salesforce-sandbox": {"FIG_DAILY_API_LIMIT": "10000000"},
                "planning": {"FIG_POLL_INTERVAL": "0.2"},
                "anaplan-sandbox": {"FIG_TASK_DELAY": "0.3"},
                "process": {"FIG_BOOKING_SWEEP_INTERVAL": "2"},
            }.get(name, {})
        )
    return env
