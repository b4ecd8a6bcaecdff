"""The deterministic seed: one workspace, its model, the import/export definitions and some cells.

Ids follow the shapes Anaplan uses (32-hex workspace/model ids; imports 112…, files 113…,
exports 116…), so a connector configured against the sandbox looks like one configured against
a real tenant. The planning system API's dev defaults repeat these ids.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

from system_apis.planning.sandbox.cube import ActualCell, BookingCell, Cube

__all__ = [
    "ACCOUNTS",
    "ACTUALS_COLUMNS",
    "ACTUALS_EXPORT_ID",
    "ACTUALS_FILE_ID",
    "ACTUALS_IMPORT_ID",
    "ACTUAL_PRODUCTS",
    "BOOKINGS_COLUMNS",
    "BOOKINGS_EXPORT_ID",
    "BOOKINGS_FILE_ID",
    "BOOKINGS_IMPORT_ID",
    "CURRENCIES",
    "ENTITIES",
    "EXPORTS",
    "FILES",
    "FIRST_PERIOD",
    "IMPORTS",
    "LAST_PERIOD",
    "MODELS",
    "MODEL_ID",
    "NO_PRODUCT",
    "PERIODS",
    "PRODUCTS",
    "VERSIONS",
    "WORKSPACES",
    "WORKSPACE_ID",
    "ExportDefinition",
    "FileDefinition",
    "ImportDefinition",
    "Module",
    "VersionDefinition",
    "seed_cube",
]

Module = Literal["committed_bookings", "actuals"]

WORKSPACE_ID: Final = "8a81b08e654f3cef0165a4b8d29d1e4f"
MODEL_ID: Final = "75A40874E6B64FA3AE0743278996850F"
BOOKINGS_FILE_ID: Final = "113000000000"
ACTUALS_FILE_ID: Final = "113000000001"
BOOKINGS_IMPORT_ID: Final = "112000000000"
ACTUALS_IMPORT_ID: Final = "112000000001"
BOOKINGS_EXPORT_ID: Final = "116000000000"
ACTUALS_EXPORT_ID: Final = "116000000001"

#: List items of the model's dimensions (the shared cross-service facts).
ENTITIES: Final = {"US01": "USD", "DE01": "EUR", "GB01": "GBP"}
PRODUCTS: Final = frozenset({"FIG-PLAT", "FIG-SUPP", "FIG-SERV"})
#: The P1 Products item that holds actuals not booked to a product (canonical `product_code: null`).
NO_PRODUCT: Final = "UNALLOCATED"
ACTUAL_PRODUCTS: Final = PRODUCTS | {NO_PRODUCT}
CURRENCIES: Final = frozenset({"USD", "EUR", "GBP"})
#: A1 Accounts: the P&L accounts the model plans on (revenue 4xxx, cost of revenue 5xxx, opex 6xxx, other 7xxx).
ACCOUNTS: Final = frozenset({"4000", "4100", "4200", "4900", "5000", "5100", "6000", "6100", "6200", "7000"})
#: The model's timescale: monthly periods of FY2025 to FY2027.
FIRST_PERIOD: Final = "2025-01"
LAST_PERIOD: Final = "2027-12"
PERIODS: Final = tuple(f"{year}-{month:02d}" for year in (2025, 2026, 2027) for month in range(1, 13))

BOOKINGS_COLUMNS: Final = ("Booking Code", "Entity", "Product", "Period", "Currency", "Amount")
ACTUALS_COLUMNS: Final = ("Version", "Entity", "Period", "Account", "Product", "Currency", "Amount")


class VersionDefinition(msgspec.Struct, kw_only=True, frozen=True):
    """A Versions list item. Cells of the version can be written only in periods of its edit window;
    a version without one (`edit_from` None) is published: locked against every write."""

    id: str
    name: str
    is_actual: bool = False
    is_current: bool = False
    edit_from: str | None = None
    edit_to: str | None = None


class FileDefinition(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    name: str
    delimiter: str = '"'
    encoding: str = "UTF-8"
    first_data_row: int = 2
    format: str = "txt"
    header_row: int = 1
    separator: str = ","


class ImportDefinition(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    name: str
    file_id: str
    module: Module
    import_type: str = "MODULE_DATA"


class ExportDefinition(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    name: str
    module: Module
    export_type: str = "TABULAR_MULTI_COLUMN"
    export_format: str = "text/csv"


WORKSPACES: Final = (
    {"id": WORKSPACE_ID, "name": "FIG Finance", "active": True, "sizeAllowance": 10737418240, "currentSize": 52428800},
)
MODELS: Final = (
    {
        "id": MODEL_ID,
        "name": "FIG Revenue Planning",
        "activeState": "UNLOCKED",
        "currentWorkspaceId": WORKSPACE_ID,
        "currentWorkspaceName": "FIG Finance",
        "modelUrl": f"https://us1a.app.anaplan.com/core?selectedWorkspaceId={WORKSPACE_ID}&selectedModelId={MODEL_ID}",
        "categoryValues": [],
    },
)
FILES: Final = (
    FileDefinition(id=BOOKINGS_FILE_ID, name="Committed Bookings.csv"),
    FileDefinition(id=ACTUALS_FILE_ID, name="Actuals.csv"),
    FileDefinition(id=BOOKINGS_EXPORT_ID, name="Committed Bookings Export.csv"),
    FileDefinition(id=ACTUALS_EXPORT_ID, name="Actuals Export.csv"),
)
IMPORTS: Final = (
    ImportDefinition(
        id=BOOKINGS_IMPORT_ID,
        name="REV01 Committed Bookings from Committed Bookings.csv",
        file_id=BOOKINGS_FILE_ID,
        module="committed_bookings",
    ),
    ImportDefinition(
        id=ACTUALS_IMPORT_ID, name="REV02 Actuals from Actuals.csv", file_id=ACTUALS_FILE_ID, module="actuals"
    ),
)
#: Version ids follow the 107… shape of Anaplan's version metadata.
VERSIONS: Final = (
    VersionDefinition(id="107000000001", name="Actuals", is_actual=True, edit_from=FIRST_PERIOD, edit_to=LAST_PERIOD),
    VersionDefinition(id="107000000002", name="Committed Bookings", edit_from=FIRST_PERIOD, edit_to=LAST_PERIOD),
    VersionDefinition(id="107000000003", name="Forecast FY26 Q4"),
    VersionDefinition(
        id="107000000004", name="Forecast FY27", is_current=True, edit_from="2027-01", edit_to=LAST_PERIOD
    ),
    VersionDefinition(id="107000000005", name="Budget FY27"),
)
EXPORTS: Final = (
    ExportDefinition(id=BOOKINGS_EXPORT_ID, name="Committed Bookings Export.csv", module="committed_bookings"),
    ExportDefinition(id=ACTUALS_EXPORT_ID, name="Actuals Export.csv", module="actuals"),
)


def _bench_bookings(cube: Cube, scale: int) -> None:
    entities = sorted(ENTITIES)
    products = sorted(PRODUCTS)
    for n in range(scale):
        entity = entities[n % len(entities)]
        cube.put_booking(
            BookingCell(
                booking_code=f"SO-BENCH-{n:06d}",
                entity=entity,
                product=products[(n // len(entities)) % len(products)],
                period=PERIODS[n % 24],  # FY2025 and FY2026
                currency=ENTITIES[entity],
                amount=f"{1000 + (n * 7919) % 250000}.{n % 100:02d}",
            )
        )


def _bench_actuals(cube: Cube, scale: int) -> None:
    # Actuals cells are unique per (version, entity, period, account, product): at most
    # 3 x 24 x 10 x 4 = 2,880 distinct cells in the Actuals version for FY2025-FY2026.
    n = 0
    for period in PERIODS[:24]:
        for entity in sorted(ENTITIES):
            for account in sorted(ACCOUNTS):
                for product in sorted(ACTUAL_PRODUCTS):
                    if n >= scale:
                        return
                    amount = f"{500 + (n * 6007) % 90000}.{n % 100:02d}"
                    cube.put_actual(
                        ActualCell(
                            version="Actuals",
                            entity=entity,
                            period=period,
                            account=account,
                            product=product,
                            currency=ENTITIES[entity],
                            amount=amount,
                        )
                    )
                    n += 1


def seed_cube(scale: int = 0) -> Cube:
    """A few committed cells, actuals and a published budget that exist before anything is imported.

    `scale` > 0 adds that many committed-bookings cells (codes `SO-BENCH-nnnnnn`) and up to that
    many Actuals-version cells (at most 2,880, all of FY2025-FY2026), deterministically, for benchmarks.
    """
    cube = Cube()
    # Benchmark cells first, so the demo cells below keep their values where coordinates meet.
    _bench_bookings(cube, scale)
    _bench_actuals(cube, scale)
    for code, entity, product, period, amount in (
        ("SO-SEED-1001", "US01", "FIG-PLAT", "2026-10", "48000.00"),
        ("SO-SEED-1001", "US01", "FIG-SUPP", "2026-10", "9600.00"),
        ("SO-SEED-1002", "DE01", "FIG-SERV", "2026-10", "15000.00"),
        ("SO-SEED-1003", "GB01", "FIG-PLAT", "2026-09", "21000.00"),
    ):
        cube.put_booking(
            BookingCell(
                booking_code=code,
                entity=entity,
                product=product,
                period=period,
                currency=ENTITIES[entity],
                amount=amount,
            )
        )
    for version, entity, period, account, product, amount in (
        ("Actuals", "US01", "2026-09", "4000", "FIG-PLAT", "310500.00"),
        ("Actuals", "DE01", "2026-09", "4000", "FIG-PLAT", "128250.00"),
        ("Actuals", "DE01", "2026-09", "6000", NO_PRODUCT, "-42000.00"),
        ("Actuals", "GB01", "2026-09", "4100", "FIG-SUPP", "40200.00"),
        ("Budget FY27", "DE01", "2027-01", "4000", "FIG-PLAT", "140000.00"),
        ("Forecast FY26 Q4", "DE01", "2026-10", "4000", "FIG-PLAT", "131000.00"),
    ):
        cube.put_actual(
            ActualCell(
                version=version,
                entity=entity,
                period=period,
                account=account,
                product=product,
                currency=ENTITIES[entity],
                amount=amount,
            )
        )
    return cube
