"""A throwaway ES256 token issuer for tests: mint tokens and serve a JWKS without the dev IdP."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from litestar import Litestar, get

from servicekit.jose import normalize_token
from tests.support import running_server

__all__ = ["TestIssuer"]


class TestIssuer:
    """Signs ES256 tokens with a fresh key; `serve()` publishes its JWKS over real HTTP."""

    __test__ = False  # not a pytest test class

    def __init__(self, issuer: str = "http://issuer.test", audience: str = "fig") -> None:
        self.issuer = issuer
        self.audience = audience
        self.kid = uuid.uuid4().hex[:12]
        self.key = ec.generate_private_key(ec.SECP256R1())

    def jwks(self) -> dict[str, Any]:
        public = json.loads(ECAlgorithm.to_jwk(self.key.public_key()))
        public.update({"kid": self.kid, "alg": "ES256", "use": "sig"})
        return {"keys": [public]}

    def mint(
        self,
        scopes: Iterable[str] = (),
        *,
        subject: str = "test-client",
        legal_entities: Iterable[str] = ("US01", "DE01", "GB01"),
        ttl: int = 300,
        **overrides: Any,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "client_id": subject,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "scope": " ".join(scopes),
            "legal_entities": list(legal_entities),
        }
        claims.update(overrides)
        return normalize_token(
            jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": self.kid, "typ": "at+jwt"}), "ES256"
        )

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Serve `/.well-known/jwks.json`; yields the base URL (use it as `FIG_IDP_URL`)."""

        @get("/.well-known/jwks.json", sync_to_thread=False)
        def jwks() -> dict[str, Any]:
            return self.jwks()

        @get("/health/live", sync_to_thread=False)
        def live() -> dict[str, str]:
            return {"status": "ok"}

        with running_server(Litestar([jwks, live])) as base:
            yield base
