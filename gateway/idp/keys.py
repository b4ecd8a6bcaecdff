"""The IdP's signing keys: one current key per algorithm, rotated-out keys kept public for a grace period.

Access tokens are ES256 (P-256). ID tokens are RS256, the algorithm OpenID Connect Core 3.1.3.7
makes every relying party support and Discovery 1.0 requires a provider to offer, so any OIDC
client library signs a person in without configuration. Both keys rotate together.

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
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

__all__ = ["ACCESS_ALG", "ID_TOKEN_ALG", "KeyRing", "SigningKey", "jwk_thumbprint"]

_FILE = "idp-keys.json"
#: The algorithms the ring keeps a current key for: access tokens, then ID tokens.
ACCESS_ALG = "ES256"
ID_TOKEN_ALG = "RS256"
_ALGS = (ACCESS_ALG, ID_TOKEN_ALG)
#: RFC 7638 section 3.2: the required members of each key type, the input of its thumbprint.
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint of an EC or RSA public JWK: a key id derived from the key itself."""
    members = _THUMBPRINT_MEMBERS[jwk["kty"]]
    canonical = json.dumps({k: jwk[k] for k in members}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


class SigningKey:
    """One key (P-256 for ES256, RSA 2048 for RS256) with its `kid` and `alg`; `retired_at` is set
    once another key of its algorithm became current."""

    __slots__ = ("alg", "kid", "private_key", "public_jwk", "retired_at")

    def __init__(self, private_key: PrivateKey, retired_at: float | None = None) -> None:
        self.private_key = private_key
        if isinstance(private_key, rsa.RSAPrivateKey):
            self.alg = ID_TOKEN_ALG
            jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
        else:
            self.alg = ACCESS_ALG
            jwk = json.loads(ECAlgorithm.to_jwk(private_key.public_key()))
        self.kid = jwk_thumbprint(jwk)
        jwk.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        self.public_jwk = jwk
        self.retired_at = retired_at

    @classmethod
    def generate(cls, alg: str = ACCESS_ALG) -> SigningKey:
        if alg == ID_TOKEN_ALG:
            return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))
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
    """The current signing key of each algorithm and the retired ones still inside their grace period."""

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
            missing = [alg for alg in _ALGS if self._current(alg) is None]
            if missing:  # a new ring, or one kept by a version that had no ID-token key yet
                self._keys.extend(SigningKey.generate(alg) for alg in missing)
                self._save()

    def _current(self, alg: str) -> SigningKey | None:
        return next((k for k in reversed(self._keys) if k.alg == alg and k.retired_at is None), None)

    @property
    def current(self) -> SigningKey:
        """The key access tokens are signed with (ES256)."""
        return self.current_for(ACCESS_ALG)

    @property
    def id_token_key(self) -> SigningKey:
        """The key ID tokens are signed with (RS256)."""
        return self.current_for(ID_TOKEN_ALG)

    def current_for(self, alg: str) -> SigningKey:
        key = self._current(alg)
        if key is None:
            raise KeyError(f"the key ring has no current {alg} key")
        return key

    def published(self) -> list[SigningKey]:
        """The keys in the JWKS: the current one and those retired less than the grace period ago."""
        now = self.clock()
        return [k for k in self._keys if k.retired_at is None or now - k.retired_at < self.grace_seconds]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk for k in self.published()]}

    def rotate(self) -> SigningKey:
        """Make a fresh key of each algorithm current; the previous ones stay published for the grace
        period. Returns the new access-token key."""
        with self._locked():
            now = self.clock()
            for key in self._keys:
                if key.retired_at is None:
                    key.retired_at = now
            self._keys = [*self.published(), *(SigningKey.generate(alg) for alg in _ALGS)]
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
            if not isinstance(private, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
                raise ValueError(f"{self._path}: not an EC or RSA private key")
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
