"""The local CA: created once under its directory, reused after, and good for the sandboxes' HTTPS."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

import httpx
import pytest

from deploy.services import service_env
from deploy.tls import local_tls
from system_apis.planning.sandbox import AnaplanSandboxSettings, create_app
from tests.support import running_server


def test_the_ca_is_created_on_first_use_and_reused_after(tmp_path: Path) -> None:
    first = local_tls(tmp_path / "tls")
    pems = [p.read_bytes() for p in first]
    again = local_tls(tmp_path / "tls")
    assert again == first
    assert [p.read_bytes() for p in again] == pems
    assert stat.S_IMODE(first.key.stat().st_mode) == 0o600
    assert first.key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, as granian needs
    # A lost server certificate is issued again by the same CA: clients keep trusting it.
    first.certificate.unlink()
    reissued = local_tls(tmp_path / "tls")
    assert reissued.ca_bundle.read_bytes() == pems[0]
    assert reissued.certificate.read_bytes() != pems[1]


def test_a_sandbox_serves_https_that_only_a_client_trusting_the_ca_accepts(tmp_path: Path) -> None:
    tls = local_tls(tmp_path / "tls")
    with running_server(create_app(AnaplanSandboxSettings()), tls=tls) as base:
        assert base.startswith("https://")
        trusting = ssl.create_default_context(cafile=tls.ca_bundle)
        for host in (base, base.replace("127.0.0.1", "localhost")):
            assert httpx.get(f"{host}/health/live", verify=trusting).status_code == 200
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{base}/health/live", verify=ssl.create_default_context())


def test_the_stack_points_system_apis_at_https_sandboxes_and_their_ca(tmp_path: Path) -> None:
    tls = local_tls(tmp_path / "tls")
    ports = {"salesforce-sandbox": 9301, "netsuite-sandbox": 9302, "anaplan-sandbox": 9303, "idp": 9400,
             "crm": 9201, "erp": 9202, "planning": 9203, "process": 9100, "gateway": 9000}  # fmt: skip
    crm = service_env("crm", ports, "redis://x", str(tmp_path), tls=tls)
    assert (crm["FIG_SANDBOX_URL"], crm["FIG_SANDBOX_CA_BUNDLE"]) == ("https://127.0.0.1:9301", str(tls.ca_bundle))
    sandbox = service_env("netsuite-sandbox", ports, "redis://x", str(tmp_path), tls=tls)
    assert (sandbox["FIG_TLS_CERTIFICATE"], sandbox["FIG_TLS_KEY"]) == (str(tls.certificate), str(tls.key))
    plain = service_env("planning", ports, "redis://x", str(tmp_path))
    assert plain["FIG_SANDBOX_URL"] == "http://127.0.0.1:9303"
    assert "FIG_SANDBOX_CA_BUNDLE" not in plain
    assert "FIG_TLS_CERTIFICATE" not in service_env("gateway", ports, "redis://x", str(tmp_path), tls=tls)
