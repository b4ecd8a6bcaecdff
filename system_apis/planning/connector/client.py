"""The planning connector: committed bookings and actuals into Anaplan by bulk import, reads by
export, version metadata by the transactional API, and the status of earlier import tasks.

A load is: CSV (stable codes, exact decimal amounts) -> chunked gzip upload -> complete ->
import task -> poll until COMPLETE -> failure dump -> `PlanningImportResult`. One canonical call
is one import (batch limits: see `AnaplanBulk` and the system API's contract).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import httpx
import msgspec

from contracts import ActualsBatch, CommittedBooking, ForecastVersion, PlanningImportResult
from system_apis.planning.connector.actuals import actuals_csv, parse_actuals_export
from system_apis.planning.connector.bulk import AnaplanBulk
from system_apis.planning.connector.config import AnaplanConfig
from system_apis.planning.connector.mapping import bookings_csv, parse_bookings_export
from system_apis.planning.connector.session import AnaplanSession
from system_apis.planning.connector.versions import parse_versions
from system_apis.planning.errors import PlanningProtocolError, PlanningRequestRejected

__all__ = ["PlanningConnector"]

#: Task ids go into vendor URLs: only the characters Anaplan's ids use (32 hex digits in practice).
_TASK_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_PAGE = 1000


class PlanningConnector:
    """Anaplan APIs for one model; share one instance per process (it holds the token and the model lock)."""

    def __init__(self, config: AnaplanConfig, http: httpx.AsyncClient) -> None:
        self.config = config
        self.session = AnaplanSession(config, http)
        self.bulk = AnaplanBulk(config, self.session)

    async def check(self) -> None:
        """Readiness: we can log in and the configured model is in the configured workspace."""
        body = await self.session.json("GET", f"/2/0/workspaces/{self.config.workspace_id}/models")
        models = body.get("models") if isinstance(body, dict) else None
        if not isinstance(models, list) or all(
            not isinstance(m, dict) or m.get("id") != self.config.model_id for m in models
        ):
            raise PlanningRequestRejected(
                f"model {self.config.model_id} is not in workspace {self.config.workspace_id}"
            )

    # -- committed bookings -------------------------------------------------------------------
    async def load_committed_bookings(self, bookings: Sequence[CommittedBooking]) -> PlanningImportResult:
        """Import `bookings` into the committed-bookings module; re-loading the same codes overwrites."""
        content = bookings_csv(bookings)
        return await self.bulk.run_import(self.config.bookings_import_id, self.config.bookings_file_id, content)

    async def read_committed_bookings(
        self, *, legal_entity: str | None = None, period: str | None = None
    ) -> list[CommittedBooking]:
        """The committed-bookings module read back through its export, filtered by entity and period."""
        content = await self.bulk.export(self.config.bookings_export_id)
        return [
            b
            for b in parse_bookings_export(content)
            if (legal_entity is None or b.legal_entity == legal_entity) and (period is None or b.period == period)
        ]

    async def read_versioned_bookings(
        self, *, legal_entity: str | None = None, period: str | None = None
    ) -> tuple[ForecastVersion | None, list[CommittedBooking]]:
        """The committed-bookings cells with the version they belong to (`bookings_version`; None if the
        model has no such version). The version is read before and after the export and counts as
        published only if it was both times: then the cells are its locked figures, since a version
        cannot be written while it is published.
        """
        before = await self._bookings_version()
        items = await self.read_committed_bookings(legal_entity=legal_entity, period=period)
        after = await self._bookings_version()
        if after is None:
            return None, items
        throughout = after.published and before is not None and before.id == after.id and before.published
        return msgspec.structs.replace(after, published=throughout), items

    async def _bookings_version(self) -> ForecastVersion | None:
        name = self.config.bookings_version
        return next((v for v in await self.forecast_versions() if v.name == name), None)

    # -- actuals ------------------------------------------------------------------------------
    async def load_actuals(self, batch: ActualsBatch) -> PlanningImportResult:
        """Import `batch` into the actuals module's `actuals_version` (cells keyed by entity, period,
        account and product, so a re-load overwrites). Rows the model refuses, e.g. because the
        version is published, come back in `rejected` with the model's reason."""
        content = actuals_csv(batch, version=self.config.actuals_version, no_product=self.config.no_product)
        return await self.bulk.run_import(self.config.actuals_import_id, self.config.actuals_file_id, content)

    async def read_actuals(self, *, legal_entity: str, period: str) -> ActualsBatch | None:
        """The actuals version's cells for one entity and period (via the actuals export); None if none."""
        content = await self.bulk.export(self.config.actuals_export_id)
        return parse_actuals_export(
            content,
            version=self.config.actuals_version,
            legal_entity=legal_entity,
            period=period,
            no_product=self.config.no_product,
        )

    # -- versions and import status -----------------------------------------------------------
    async def forecast_versions(self) -> list[ForecastVersion]:
        """Every version of the model (transactional API `GET /2/0/models/{model}/versions`, all pages)."""
        items: list[object] = []
        offset = 0
        while True:
            body = await self.session.json(
                "GET", f"/2/0/models/{self.config.model_id}/versions?limit={_PAGE}&offset={offset}"
            )
            page = body.get("versionMetadata") if isinstance(body, dict) else None
            if not isinstance(page, list):
                raise PlanningProtocolError("no versionMetadata in Anaplan's answer")
            items.extend(page)
            paging = body.get("meta", {}).get("paging") if isinstance(body.get("meta"), dict) else None
            total = paging.get("totalSize") if isinstance(paging, dict) else None
            offset += len(page)
            if not page or not isinstance(total, int) or offset >= total:
                return parse_versions(items)

    async def import_status(self, task_id: str) -> PlanningImportResult | None:
        """An import task of ours (committed bookings or actuals) in whatever state it is; None if unknown.

        `rejected` lists the dump's rows while Anaplan keeps the dump (it removes it on the next
        error-free run of the import or 48 h after last access); the counts stay either way.
        """
        if not _TASK_ID.match(task_id):
            return None
        for import_id in (self.config.bookings_import_id, self.config.actuals_import_id):
            try:
                task = await self.bulk.task("imports", import_id, task_id)
            except PlanningRequestRejected as exc:
                if exc.status == 404:
                    continue
                raise
            return await self.bulk.import_result(import_id, task)
        return None
