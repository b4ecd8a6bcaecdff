"""The IdP's ES256 signing keys: one current key, rotated-out keys kept public for a grace period.

With a data directory the keys persist (`idp-keys.json`, PEM inside, mode 0600) so a restart keeps
issued tokens verifiable; without one they live in memory and die with the process.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

__all__ = ["KeyRing", "SigningKey", "jwk_thumbprint"]

_FILE = "idp-keys.json"


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint of an EC public JWK: a key id derived from the key itself."""
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


class SigningKey:
    """One P-256 key with its `kid`; `retired_at` is set once another key became current."""

    __slots__ = ("kid", "private_key", "public_jwk", "retired_at")

    def __init__(self, private_key: ec.EllipticCurvePrivateKey, retired_at: float | None = None) -> None:
        self.private_key = private_key
        jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(private_key.public_key()))
        self.kid = jwk_thumbprint(jwk)
        jwk.update({"kid": self.kid, "alg": "ES256", "use": "sig"})
        self.public_jwk = jwk
        self.retired_at = retired_at

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    def pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()


class _StoredKey(msgspec.Struct, kw_only=True):
    pem: str
    retired_at: float | None = None


class _Store(msgspec.Struct, kw_only=True):
    keys: list[_StoredKey]


class KeyRing:
    """The current signing key and the retired ones still inside their grace period."""

    def __init__(
        self,
        *,
        grace_seconds: float,
        data_dir: str | Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.grace_seconds = grace_seconds
        self.clock = clock
        self._path = Path(data_dir) / _FILE if data_dir else None
        with self._locked():
            self._keys: list[SigningKey] = self._load() if self._path and self._path.exists() else []
            if not self._keys or self._keys[-1].retired_at is not None:
                self._keys.append(SigningKey.generate())
                self._save()

    @property
    def current(self) -> SigningKey:
        return self._keys[-1]

    def published(self) -> list[SigningKey]:
        """The keys in the JWKS: the current one and those retired less than the grace period ago."""
        now = self.clock()
        return [k for k in self._keys if k.retired_at is None or now - k.retired_at < self.grace_seconds]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk for k in self.published()]}

    def rotate(self) -> SigningKey:
        """Make a fresh key current; the previous one stays published for the grace period."""
        with self._locked():
            self.current.retired_at = self.clock()
            self._keys = [*self.published(), SigningKey.generate()]
            self._save()
        return self.current

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # Processes starting together on one data dir must agree on one key, not each mint their own.
        if self._path is None:
            yield
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _load(self) -> list[SigningKey]:
        assert self._path is not None
        store = msgspec.json.decode(self._path.read_bytes(), type=_Store)
        keys = []
        for stored in store.keys:
            private = serialization.load_pem_private_key(stored.pem.encode(), password=None)
            if not isinstance(private, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{self._path}: not an EC private key")
            keys.append(SigningKey(private, stored.retired_at))
        now = self.clock()
        return [k for k in keys if k.retired_at is None or now - k.retired_at < self.grace_seconds]

    def _save(self) -> None:
        if self._path is None:
            return
        store = _Store(keys=[_StoredKey(pem=k.pem(), retired_at=k.retired_at) for k in self._keys])
        tmp = self._path.with_suffix(".tmp")
        # Private keys: created owner-only, then swapped in atomically so a crash leaves the old file.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(msgspec.json.encode(store))
        os.replace(tmp, self._path)
