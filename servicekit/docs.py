"""The API documentation pages of every service, with their assets served by the service itself.

Litestar's OpenAPI pages load Swagger UI, ReDoc and the others from public CDNs by default, so in
an air-gapped data centre they are blank. Every service serves Swagger UI (it renders OpenAPI 3.1)
from the `swagger-ui-bundle-v2` wheel under `/schema/assets/` and its page at `/schema` and
`/schema/swagger`; the other viewers, which would only load from a CDN, are not offered.
"""

from __future__ import annotations

from pathlib import Path

from litestar.openapi.plugins import OpenAPIRenderPlugin, SwaggerRenderPlugin
from litestar.router import Router
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

__all__ = ["ASSETS_PATH", "docs_assets_router", "docs_render_plugins"]

#: Where the Swagger UI files are served (under `/schema`, which needs no token).
ASSETS_PATH = "/schema/assets"
_FILES = ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css", "favicon-32x32.png")


def docs_render_plugins() -> list[OpenAPIRenderPlugin]:
    """Swagger UI at `/schema` and `/schema/swagger`, every asset from this service."""
    return [
        SwaggerRenderPlugin(
            js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            css_url=f"{ASSETS_PATH}/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
            path=["/", "/swagger"],
        )
    ]


def docs_assets_router() -> Router:
    """The static route for the Swagger UI files shipped in the wheel."""
    directory = Path(str(swagger_ui_path))
    missing = [name for name in _FILES if not (directory / name).is_file()]
    if missing:
        raise RuntimeError(f"the swagger-ui-bundle-v2 wheel lacks {missing} in {directory}")
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[directory],
        include_in_schema=False,
    )
