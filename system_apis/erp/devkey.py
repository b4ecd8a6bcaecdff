"""The development M2M credentials shared by the NetSuite sandbox and the ERP connector.

A real NetSuite account maps an integration (client id) and a certificate id (`kid`) to a public
key that an administrator uploaded. For local runs both sides need the same pair without any
set-up, so the private key is derived deterministically from a fixed, public seed: it is a dev
credential by construction and must never be accepted by anything but the sandbox.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = [
    "DEV_ACCOUNT_ID",
    "DEV_CLIENT_ID",
    "DEV_KEY_ID",
    "dev_private_key",
    "dev_private_key_pem",
    "dev_public_key_pem",
    "write_dev_private_key",
]

DEV_ACCOUNT_ID = "FIG_SB1"
DEV_CLIENT_ID = "fig-erp-integration-dev"
DEV_KEY_ID = "fig-dev-cert-1"
_SEED = b"finance-integration-gateway/netsuite-sandbox/dev-m2m-key/v1"
# Order of the P-256 group: the private scalar must lie in [1, n - 1].
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@cache
def dev_private_key() -> ec.EllipticCurvePrivateKey:
    """The ES256 (P-256) dev key; the same on every machine and every run."""
    scalar = int.from_bytes(hashlib.sha256(_SEED).digest(), "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def dev_private_key_pem() -> bytes:
    return dev_private_key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def dev_public_key_pem() -> bytes:
    return (
        dev_private_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def write_dev_private_key(path: Path) -> Path:
    """Write the dev private key to `path` (mode 0600) unless it already holds it; returns the path."""
    pem = dev_private_key_pem()
    if not path.exists() or path.read_bytes() != pem:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pem)
        path.chmod(0o600)
    return path
