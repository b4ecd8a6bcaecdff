"""Composition root of the operations console (the experience layer).

Server-rendered pages for finance operations over the public API: people sign in at the identity
provider (authorization code + PKCE), the session lives in Redis, and every page calls the gateway
with the person's own token, so the API's scopes and legal-entity rules decide what they see and
do. Templates autoescape everything; every asset is served from this package (no CDN).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Litestar, Request, Response
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from experience.api import ApiClient
from experience.auth import signed_in
from experience.errors import ConsoleError, NotSignedIn
from experience.oidc import OidcClient
from experience.pages import (
    audit_page,
    bulk_retry,
    controls_page,
    decide_proposal,
    exception_action,
    exception_page,
    exceptions_page,
    overview_page,
    propose_region_change,
    reports_page,
    run_page,
    runs_page,
    start_reconciliation,
)
from experience.sessions import SessionStore, new_secret
from experience.settings import ConsoleSettings, is_loopback_http
from experience.signin import callback, login, logout
from servicekit import create_http_client, create_service_app, load_settings

__all__ = ["create_app"]

_HERE = Path(__file__).parent


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _page_headers(settings: ConsoleSettings) -> dict[str, str]:
    """The headers of every page: a strict CSP (scripts and styles from the console only, no inline
    script, forms only to the console and the IdP, no framing) and no caching of personal data."""
    policy = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        f"form-action 'self' {_origin(settings.browser_idp_url)}; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
    }


def _sign_in_first(request: Request[Any, Any, Any], exc: NotSignedIn) -> Response[Any]:
    return Redirect(f"/login?next_path={quote(exc.next_path)}", status_code=303)


def _check(settings: ConsoleSettings) -> None:
    if urlsplit(settings.public_url).scheme != "https" and not is_loopback_http(settings.public_url):
        raise ValueError(
            f"FIG_PUBLIC_URL must be https:// (got {settings.public_url!r}): only a loopback address may use "
            "plain HTTP, anywhere else the session cookie would travel in clear text"
        )


def create_app(settings: ConsoleSettings | None = None) -> Litestar:
    """The console: sign-in, sessions in Redis, and the pages over the gateway."""
    settings = settings or load_settings(ConsoleSettings)
    _check(settings)

    @asynccontextmanager
    async def clients(app: Litestar) -> AsyncIterator[None]:
        idp = create_http_client(settings.idp_url, ca_bundle=settings.ca_bundle)
        gateway = create_http_client(settings.gateway_url, timeout=15.0, retries=0, ca_bundle=settings.ca_bundle)
        app.state.oidc = OidcClient(settings, idp)
        app.state.api = ApiClient(gateway)
        app.state.console_sessions = SessionStore(
            app.state.redis,
            idle_ttl=settings.session_idle_ttl,
            max_age=settings.session_max_age,
            login_ttl=settings.login_ttl,
        )
        try:
            yield
        finally:
            await idp.aclose()
            await gateway.aclose()

    environment = Environment(
        loader=FileSystemLoader(_HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # A fresh id in every rendered form: the Idempotency-Key of what that form sends (api.submission_key).
    environment.globals["submission_id"] = new_secret

    headers = _page_headers(settings)

    async def secured(response: Response[Any]) -> Response[Any]:
        # Pages only: static assets keep their caching, and the API docs page its inline start-up script.
        if isinstance(response, Template):
            response.headers.update(headers)
        return response

    def error_page(request: Request[Any, Any, Any], exc: ConsoleError) -> Response[Any]:
        return Template(
            template_name="error.html",
            context={"title": "Something went wrong", "message": str(exc), "person": None, "nav": (), "active": ""},
            status_code=exc.status,
            headers=headers,
        )

    def web(config: AppConfig) -> AppConfig:
        config.template_config = TemplateConfig(engine=JinjaTemplateEngine.from_environment(environment))
        config.after_request = secured
        config.exception_handlers = {
            **config.exception_handlers,
            NotSignedIn: _sign_in_first,
            ConsoleError: error_page,
        }
        config.dependencies = {**config.dependencies, "who": Provide(signed_in)}
        return config

    return create_service_app(
        name="console",
        settings=settings,
        title="FIG operations console",
        description="Server-rendered pages for finance operations (no public API).",
        route_handlers=[
            login,
            callback,
            logout,
            overview_page,
            exceptions_page,
            bulk_retry,
            exception_page,
            exception_action,
            runs_page,
            run_page,
            reports_page,
            start_reconciliation,
            controls_page,
            decide_proposal,
            propose_region_change,
            audit_page,
            create_static_files_router(path="/static", directories=[_HERE / "static"], include_in_schema=False),
        ],
        lifespan=[clients],
        auth=False,
        on_app_init=[web],
    )
