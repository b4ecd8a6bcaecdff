"""The verified-token cache: hits until expiry, bounded in size."""

from __future__ import annotations

from gateway.policies import VerifiedTokenCache
from servicekit import TokenClaims


def _claims(expires_at: int) -> TokenClaims:
    return TokenClaims(
        subject="c", client_id="c", scopes=frozenset(), legal_entities=frozenset(), expires_at=expires_at, raw={}
    )


def test_a_cached_token_is_dropped_once_it_expires() -> None:
    now = [1000.0]
    cache = VerifiedTokenCache(10, clock=lambda: now[0])
    cache.put("t", _claims(1060))
    assert cache.get("t") is not None
    now[0] = 1060
    assert cache.get("t") is None
    assert len(cache) == 0


def test_the_cache_never_grows_past_its_bound() -> None:
    cache = VerifiedTokenCache(3, clock=lambda: 0.0)
    for i in range(5):
        cache.put(f"t{i}", _claims(100))
    assert len(cache) == 3
    assert cache.get("t0") is None
    assert cache.get("t4") is not None
