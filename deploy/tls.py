"""The local certificate authority that lets the sandboxes serve HTTPS, as the vendors do.

Vendor SDKs hard-code `https://` (simple-salesforce builds `https://{instance}`), so a sandbox that
speaks only HTTP cannot be tried with them. On first use this creates a CA (with `trustme`) and a
server certificate it signs for `127.0.0.1` and `localhost`, under one directory (`var/tls/` for
`fig up`); later runs reuse them, so a client told to trust `ca.pem` once keeps trusting it. The CA
is for this machine only: its key sits next to it, unencrypted, and must never be trusted anywhere
else.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import trustme
from cryptography.hazmat.primitives import serialization

__all__ = ["SERVER_NAMES", "LocalTls", "local_tls"]

#: The names the server certificate is valid for: the addresses the local stack listens on.
SERVER_NAMES = ("127.0.0.1", "localhost", "::1")


class LocalTls(NamedTuple):
    """Paths of the local CA's certificate (the bundle clients trust) and of the server's pair."""

    ca_bundle: Path
    certificate: Path
    key: Path


def _pkcs8(pem: bytes) -> bytes:
    # granian reads PKCS#8 keys only; trustme writes the traditional OpenSSL format.
    key = serialization.load_pem_private_key(pem, password=None)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write(path: Path, data: bytes, *, secret: bool = False) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    if secret:
        tmp.chmod(0o600)
    tmp.replace(path)


def local_tls(directory: Path) -> LocalTls:
    """The CA and server certificate under `directory`, created on first use and reused after."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = LocalTls(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    ca_key = directory / "ca-key.pem"
    if all(p.exists() for p in (*paths, ca_key)):
        return paths
    if paths.ca_bundle.exists() and ca_key.exists():
        ca = trustme.CA.from_pem(paths.ca_bundle.read_bytes(), ca_key.read_bytes())
    else:
        ca = trustme.CA(organization_name="Finance Integration Gateway local CA")
        _write(ca_key, ca.private_key_pem.bytes(), secret=True)
        _write(paths.ca_bundle, ca.cert_pem.bytes())
    leaf = ca.issue_cert(*SERVER_NAMES, common_name="localhost")
    _write(paths.key, _pkcs8(leaf.private_key_pem.bytes()), secret=True)
    _write(paths.certificate, b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    return paths
