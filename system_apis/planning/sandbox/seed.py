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
    "PRODUCTS",
    "WORKSPACES",
    "WORKSPACE_ID",
    "ExportDefinition",
    "FileDefinition",
    "ImportDefinition",
    "Module",
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
CURRENCIES: Final = frozenset({"USD", "EUR", "GBP"})
ACCOUNTS: Final = frozenset({"4000", "4100", "4200", "5000", "6000"})
#: The model's timescale: monthly periods of FY2025 to FY2027.
FIRST_PERIOD: Final = "2025-01"
LAST_PERIOD: Final = "2027-12"

BOOKINGS_COLUMNS: Final = ("Booking Code", "Entity", "Product", "Period", "Currency", "Amount")
ACTUALS_COLUMNS: Final = ("Entity", "Period", "Account", "Currency", "Amount")


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
EXPORTS: Final = (
    ExportDefinition(id=BOOKINGS_EXPORT_ID, name="Committed Bookings Export.csv", module="committed_bookings"),
    ExportDefinition(id=ACTUALS_EXPORT_ID, name="Actuals Export.csv", module="actuals"),
)


def seed_cube() -> Cube:
    """A few committed cells and actuals that exist before anything is imported."""
    cube = Cube()
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
    for entity, period, account, amount in (
        ("US01", "2026-09", "4000", "310500.00"),
        ("DE01", "2026-09", "4000", "128250.00"),
        ("GB01", "2026-09", "4100", "40200.00"),
    ):
        cube.put_actual(
            ActualCell(entity=entity, period=period, account=account, currency=ENTITIES[entity], amount=amount)
        )
    return cube
