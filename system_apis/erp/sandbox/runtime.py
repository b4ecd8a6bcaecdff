"""Everything one running sandbox holds: settings, records, tokens, faults and counters."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from system_apis.erp.devkey import write_dev_private_key
from system_apis.erp.sandbox.auth import AccessTokens
from system_apis.erp.sandbox.faults import Faults
from system_apis.erp.sandbox.seed import seed_state
from system_apis.erp.sandbox.seed_ledger import backfill_state
from system_apis.erp.sandbox.settings import SandboxSettings
from system_apis.erp.sandbox.store import AccountState, Store
from system_apis.erp.sandbox.tba import TbaCredentials, TokenBasedAuth

__all__ = ["DEV_KEY_FILE", "SandboxRuntime", "Stats"]

DEV_KEY_FILE = "m2m-dev-key.pem"


@dataclass
class Stats:
    """Counters tests read through `/__admin/stats` (e.g. how often a client authenticated)."""

    requests: int = 0
    token_grants: int = 0
    throttled: int = 0
    max_in_flight_seen: int = 0


@dataclass
class SandboxRuntime:
    settings: SandboxSettings
    store: Store
    tokens: AccessTokens
    tba: TokenBasedAuth
    faults: Faults = field(default_factory=Faults)
    stats: Stats = field(default_factory=Stats)
    in_flight: int = 0
    #: Where the dev integration's private key was written (with a data_dir), for the connector's default.
    dev_key_path: str | None = None

    @classmethod
    def start(cls, settings: SandboxSettings) -> SandboxRuntime:
        """Load the persisted account from `data_dir`, or seed a fresh one."""
        data_dir = Path(settings.data_dir) if settings.data_dir else None
        store = Store.load(data_dir) if data_dir is not None else None
        if store is None:
            store = Store(cls.fresh_state(settings), data_dir)
        else:
            backfill_state(store.state)
        store.save()  # compaction at start: the replayed journal is folded into a fresh snapshot
        key_path = str(write_dev_private_key(data_dir / DEV_KEY_FILE)) if data_dir is not None else None
        tba = TokenBasedAuth(
            settings.ns_account_id,
            TbaCredentials(
                settings.ns_tba_consumer_key,
                settings.ns_tba_consumer_secret,
                settings.ns_tba_token_id,
                settings.ns_tba_token_secret,
            ),
        )
        return cls(
            settings=settings, store=store, tokens=AccessTokens(settings.token_ttl), tba=tba, dev_key_path=key_path
        )

    @staticmethod
    def fresh_state(settings: SandboxSettings) -> AccountState:
        return seed_state(client_id=settings.ns_client_id, key_id=settings.ns_key_id, scale=settings.seed_scale)

    def authenticate(self, authorization: str | None, method: str, url: str) -> str:
        """Who sent a request to `url`: an OAuth 2.0 bearer token, or an OAuth 1.0a (TBA) signature.

        401 INVALID_LOGIN otherwise. `url` is the URL as the client called it (scheme, host, path, query).
        """
        if authorization is not None and authorization[:6].lower() == "oauth ":
            return self.tba.verify(authorization, method, url)
        return self.tokens.check(authorization)

    def close(self) -> None:
        """Clean shutdown: fold the journal into the snapshot."""
        self.store.close()

    def reset(self) -> None:
        self.store.replace(self.fresh_state(self.settings))
        self.tokens.revoke_all()
        self.faults.clear()
        self.stats = Stats()
