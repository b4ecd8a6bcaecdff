"""The planning connector reaches an Anaplan sandbox over HTTPS when told to trust the local CA."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.tls import local_tls
from servicekit import create_http_client
from system_apis.planning.connector import PlanningConnector
from system_apis.planning.errors import PlanningError
from system_apis.planning.sandbox import AnaplanSandboxSettings, create_app
from tests.support import running_server
from tests.system_apis.planning.helpers import config


async def test_the_connector_trusts_the_sandbox_ca_it_is_given_and_no_other(tmp_path: Path) -> None:
    tls = local_tls(tmp_path / "tls")
    with running_server(create_app(AnaplanSandboxSettings(task_delay=0.05)), tls=tls) as base:
        async with create_http_client(base, ca_bundle=str(tls.ca_bundle)) as http:
            await PlanningConnector(config(base), http).check()
        async with create_http_client(base, retries=0) as untrusting:
            with pytest.raises(PlanningError, match=r"(?i)certificate"):
                await PlanningConnector(config(base, max_retries=0), untrusting).check()


def test_a_missing_ca_bundle_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot load the CA bundle"):
        create_http_client("https://127.0.0.1:1", ca_bundle=str(tmp_path / "nope.pem"))
