"""Every service's API documentation page works offline: its scripts and styles come from itself."""

from __future__ import annotations

import re

from litestar import get
from litestar.testing import AsyncTestClient

from servicekit import ServiceSettings, create_service_app


@get("/v1/things", sync_to_thread=False)
def things() -> list[str]:
    return []


async def test_the_docs_page_loads_every_asset_from_the_service_without_a_token() -> None:
    # Auth on (as in production): the page and its assets are public like the document itself.
    settings = ServiceSettings(jwks_url="http://127.0.0.1:9/jwks.json")
    app = create_service_app(name="t", settings=settings, route_handlers=[things], use_redis=False)
    async with AsyncTestClient(app) as client:
        for path in ("/schema", "/schema/swagger"):
            page = await client.get(path)
            assert page.status_code == 200, path
            assert "SwaggerUIBundle" in page.text
            urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
            assert urls, page.text
            assert all(url.startswith("/schema/assets/") for url in urls), urls  # nothing from a CDN
            for url in urls:
                asset = await client.get(url)
                assert asset.status_code == 200, url
                assert len(asset.content) > 0
        assert (await client.get("/v1/things")).status_code == 401
