"""Everything the running sandbox holds: the org's records, sessions, API usage, faults, cursors."""

from __future__ import annotations

import logging
from pathlib import Path

from system_apis.crm.sandbox.faults import FaultBook
from system_apis.crm.sandbox.query import QueryCursors
from system_apis.crm.sandbox.seed import seed_tables
from system_apis.crm.sandbox.sessions import ApiUsage, Sessions
from system_apis.crm.sandbox.settings import SalesforceSandboxSettings
from system_apis.crm.sandbox.store import OrgStore

__all__ = ["STATE_FILE", "SandboxState"]

STATE_FILE = "salesforce.json"
log = logging.getLogger("system_apis.crm.sandbox")


class SandboxState:
    """One emulated org. Records persist to `<data_dir>/salesforce.json` (+ `.journal`) when `data_dir` is set."""

    def __init__(self, settings: SalesforceSandboxSettings) -> None:
        self.settings = settings
        self.path = Path(settings.data_dir) / STATE_FILE if settings.data_dir else None
        self.sessions = Sessions(settings.org_id, settings.session_timeout)
        self.usage = ApiUsage(settings.daily_api_limit)
        self.faults = FaultBook()
        self.cursors = QueryCursors()
        if self.path is not None and self.path.exists():
            self.store = OrgStore.load(self.path)
            self.store.save()  # compaction at start: the replayed journal is folded into a fresh snapshot
            log.info("salesforce sandbox state reloaded", extra={"path": str(self.path)})
        else:
            self.store = self._seeded()

    def _seeded(self) -> OrgStore:
        store = OrgStore(seed_tables(self.settings.seed, self.settings.scale), path=self.path)
        store.save()
        return store

    def close(self) -> None:
        """Clean shutdown: fold the journal into the snapshot."""
        self.store.close()

    def reset(self) -> None:
        """Back to the seed: records, API usage, faults and open cursors (sessions stay valid)."""
        if self.store.journal is not None:
            self.store.journal.close()
        self.store = self._seeded()
        self.usage = ApiUsage(self.settings.daily_api_limit)
        self.faults.clear()
        self.cursors.clear()
