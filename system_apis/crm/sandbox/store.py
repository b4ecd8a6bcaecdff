"""The emulated org's records, validated writes, and persistence to one JSON file.

Records are kept as Salesforce writes them on the wire: datetimes as `2026-11-27T10:00:00.000+0000`,
dates as `YYYY-MM-DD`, currency and number fields as Decimal. With a path, every change is
persisted at once as one journal line (`salesforce.journal`: the changed records and the id
sequence) beside the snapshot (`salesforce.json`); see `journal.py` for the durability.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from servicekit.journal import Journal, new_generation, write_atomically
from system_apis.crm.sandbox.errors import ApiError, encode
from system_apis.crm.sandbox.index import TableIndexes
from system_apis.crm.sandbox.schema import OBJECTS, STAGE_BY_NAME, FieldDef, field_def, key_prefix

__all__ = ["JOURNAL_SUFFIX", "OrgStore", "Record", "format_datetime", "make_id", "parse_datetime"]

Record = dict[str, Any]
Clock = Callable[[], datetime]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_LINE = "OpportunityLineItem"
_CENT = Decimal("0.01")
#: The journal sits beside the snapshot: `salesforce.json` -> `salesforce.journal`.
JOURNAL_SUFFIX = ".journal"


def make_id(prefix: str, number: int) -> str:
    """An 18-character Salesforce id: prefix, pod `8d`, base-62 number, and the case checksum."""
    digits = ""
    while True:
        number, rem = divmod(number, 62)
        digits = _BASE62[rem] + digits
        if number == 0:
            break
    base = (prefix + "8d" + digits.rjust(10, "0"))[:15]
    suffix = ""
    for chunk in (base[0:5], base[5:10], base[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if "A" <= ch <= "Z")
        suffix += _CHECKSUM[bits]
    return base + suffix


def format_datetime(moment: datetime) -> str:
    """Salesforce's datetime wire format, always UTC with millisecond precision."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> datetime:
    """Parse Salesforce (`+0000`) and ISO 8601 (`Z`, `+00:00`) datetimes to an aware datetime."""
    cleaned = text.strip()
    if cleaned.endswith("Z"):
        cleaned = cleaned[:-1] + "+00:00"
    elif len(cleaned) > 5 and cleaned[-5] in "+-" and cleaned[-3] != ":":
        cleaned = cleaned[:-2] + ":" + cleaned[-2:]
    parsed = datetime.fromisoformat(cleaned)
    if parsed.tzinfo is None:
        raise ValueError(f"datetime without a time zone: {text}")
    return parsed


def _now() -> datetime:
    return datetime.now(UTC)


class OrgStore:
    """All records of the org by object and id; writes go through validation and touch the modstamps."""

    def __init__(
        self,
        tables: Mapping[str, Mapping[str, Record]],
        *,
        sequence: int = 1_000_000,
        path: Path | None = None,
        clock: Clock = _now,
        generation: int = 0,
    ) -> None:
        self.tables: dict[str, dict[str, Record]] = {name: dict(tables.get(name, {})) for name in OBJECTS}
        self.sequence = sequence
        self.path = path
        self.clock = clock
        self.generation = generation
        self.journal = Journal(path.with_suffix(JOURNAL_SUFFIX)) if path is not None else None
        #: Lookup indexes for SOQL, kept current by `insert` and `update` (the only writers).
        self.indexes = TableIndexes(self.tables)

    # -- reading ---------------------------------------------------------------------------------

    def get(self, sobject: str, record_id: str) -> Record | None:
        record = self.tables[sobject].get(record_id)
        if record is None and len(record_id) == 15:
            # The REST API accepts the case-sensitive 15-character form of an id too.
            record = next((r for i, r in self.tables[sobject].items() if i[:15] == record_id), None)
        return record

    def records(self, sobject: str) -> Iterable[Record]:
        return self.tables[sobject].values()

    def find(self, sobject: str, field: str, value: Any) -> list[Record]:
        return [r for r in self.tables[sobject].values() if r.get(field) == value]

    def counts(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.tables.items()}

    # -- writing ---------------------------------------------------------------------------------

    def insert(self, sobject: str, fields: Mapping[str, Any]) -> Record:
        """Create a record from validated `fields`; raises ApiError as the REST API would."""
        values = self._validated(sobject, fields, creating=True)
        if sobject == _LINE:
            _priced(values, values)
        for definition in OBJECTS[sobject].values():
            if not definition.nillable and definition.createable and values.get(definition.name) is None:
                raise ApiError(
                    400,
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{definition.name}]",
                    [definition.name],
                )
        self.sequence += 1
        stamp = format_datetime(self.clock())
        record: Record = dict.fromkeys(OBJECTS[sobject])
        record.update(values)
        record.update(
            Id=make_id(key_prefix(sobject), self.sequence),
            IsDeleted=False,
            CreatedDate=stamp,
            LastModifiedDate=stamp,
            SystemModstamp=stamp,
        )
        self._derive(sobject, record)
        self.tables[sobject][record["Id"]] = record
        self.indexes.inserted(sobject, record)
        self.persist(sobject, [record])
        if sobject == _LINE:
            self._roll_up(record)
        return record

    def update(self, sobject: str, record_id: str, fields: Mapping[str, Any], *, persist: bool = True) -> Record:
        """Validate and apply `fields`, touch the modstamps; `persist=False` leaves `persist` to the caller."""
        record = self.get(sobject, record_id)
        if record is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        values = self._validated(sobject, fields, creating=False)
        if sobject == _LINE:
            _priced(values, {**record, **values})
        old = self.indexes.watched(sobject, record, values)
        record.update(values)
        self._derive(sobject, record, stage_changed="StageName" in values, probability_given="Probability" in values)
        self.touch(record)
        self.indexes.changed(sobject, record, old)
        if persist:
            self.persist(sobject, [record])
        if sobject == _LINE and {"Quantity", "UnitPrice", "TotalPrice"} & values.keys():
            self._roll_up(record)
        return record

    def _roll_up(self, line: Record) -> None:
        """A product line changed: its opportunity's Amount becomes the sum of its lines' TotalPrice
        (a roll-up: the opportunity's modstamps move too, as in Salesforce)."""
        opportunity_id = line["OpportunityId"]
        lines = self.find(_LINE, "OpportunityId", opportunity_id)
        total = sum((Decimal(str(item.get("TotalPrice") or 0)) for item in lines), Decimal("0"))
        self.update("Opportunity", opportunity_id, {"Amount": total.quantize(_CENT)})

    def restore(self, sobject: str, prior: Record) -> None:
        """Put a stored record back to `prior` (a copy taken before an update), modstamps included:
        the rollback of a composite call with `allOrNone`."""
        record = self.tables[sobject][prior["Id"]]
        old = self.indexes.watched(sobject, record, prior)
        record.clear()
        record.update(prior)
        self.indexes.changed(sobject, record, old)
        self.persist(sobject, [record])

    def touch(self, record: Record) -> None:
        """New modstamps; for stored records only through `update` (which keeps the stamp index)."""
        stamp = format_datetime(self.clock())
        record["LastModifiedDate"] = stamp
        record["SystemModstamp"] = stamp

    @staticmethod
    def _derive(sobject: str, record: Record, *, stage_changed: bool = True, probability_given: bool = False) -> None:
        if sobject == "Opportunity" and stage_changed:
            stage = STAGE_BY_NAME[record["StageName"]]
            record["IsClosed"] = stage.is_closed
            record["IsWon"] = stage.is_won
            record["ForecastCategoryName"] = stage.forecast_category
            if not probability_given:
                record["Probability"] = Decimal(stage.probability)

    def _validated(self, sobject: str, fields: Mapping[str, Any], *, creating: bool) -> Record:
        values: Record = {}
        for name, raw in fields.items():
            if name == "attributes":
                continue
            definition = field_def(sobject, name)
            if definition is None:
                raise ApiError(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}", [name])
            allowed = definition.createable if creating else definition.updateable
            if not allowed:
                raise ApiError(
                    400,
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {definition.name}. Please check the security settings "
                    "of this field and verify that it is read/write for your profile or permission set.",
                    [definition.name],
                )
            values[definition.name] = self._coerce(sobject, definition, raw)
        return values

    def _coerce(self, sobject: str, definition: FieldDef, raw: Any) -> Any:
        name = definition.name
        if raw is None:
            if not definition.nillable:
                raise ApiError(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{name}]", [name])
            return None
        kind = definition.type
        try:
            if kind in ("currency", "double", "percent"):
                if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal):
                    raise TypeError
                return Decimal(str(raw))
            if kind == "boolean":
                if not isinstance(raw, bool):
                    raise TypeError
                return raw
            if not isinstance(raw, str):
                raise TypeError
            if kind == "date":
                return date.fromisoformat(raw).isoformat()
            if kind == "datetime":
                return format_datetime(parse_datetime(raw))
        except (TypeError, ValueError, InvalidOperation):
            raise ApiError(
                400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of {kind} from value {raw!r} for {name}", [name]
            ) from None
        if kind == "picklist" and definition.picklist and raw not in definition.picklist:
            raise ApiError(
                400,
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{definition.label}: bad value for restricted picklist field: {raw}",
                [name],
            )
        if kind == "email" and not _EMAIL.match(raw):
            raise ApiError(400, "INVALID_EMAIL_ADDRESS", f"{definition.label}: invalid email address: {raw}", [name])
        if kind == "reference":
            target = definition.reference_to[0]
            if target in self.tables and self.get(target, raw) is None:
                raise ApiError(
                    400,
                    "FIELD_INTEGRITY_EXCEPTION",
                    f"{definition.label}: id value of incorrect type: {raw}",
                    [name],
                )
        return raw

    # -- persistence -----------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        return encode({"sequence": self.sequence, "generation": self.generation, "tables": self.tables})

    def persist(self, sobject: str, records: Iterable[Record]) -> None:
        """Journal `records` of `sobject` as they are now (one line, one write); compacts when the journal is full."""
        if self.journal is None:
            return
        self.journal.append(encode({"sequence": self.sequence, "sobject": sobject, "records": list(records)}))
        if self.journal.full:
            self.save()

    def save(self) -> None:
        """Compact: write the whole org as a fresh snapshot (atomically) and start an empty journal."""
        if self.path is None or self.journal is None:
            return
        self.generation = new_generation()
        write_atomically(self.path, self.snapshot())
        self.journal.start(self.generation)

    def close(self) -> None:
        """Clean shutdown: compact and remove the (then empty) journal."""
        if self.journal is not None:
            self.save()
            self.journal.close(remove=True)

    def _replay(self, line: bytes) -> None:
        entry = json.loads(line, parse_float=Decimal)
        sobject = entry["sobject"]
        for record in entry["records"]:
            self.tables[sobject][record["Id"]] = _decimals(sobject, record)
        self.sequence = int(entry["sequence"])

    @classmethod
    def load(cls, path: Path, *, clock: Clock = _now) -> OrgStore:
        """Reload a persisted org (snapshot, then its journal); numbers come back as Decimal, never float.

        The caller compacts (`save`) when it is ready to take writes.
        """
        state = json.loads(path.read_bytes(), parse_float=Decimal)
        tables = state["tables"]
        for sobject, rows in tables.items():
            for record in rows.values():
                _decimals(sobject, record)
        store = cls(
            tables, sequence=int(state["sequence"]), path=path, clock=clock, generation=int(state.get("generation", 0))
        )
        assert store.journal is not None
        store.journal.replay(store.generation, store._replay)
        return store


def _priced(values: Record, line: Record) -> None:
    """Salesforce's line pricing: a line takes UnitPrice or TotalPrice, never both (the other is
    derived from Quantity); `values` (the write) gets the derived field, `line` is the line after it."""
    if "UnitPrice" in values and "TotalPrice" in values:
        raise ApiError(
            400,
            "FIELD_INTEGRITY_EXCEPTION",
            "Can only specify one of UnitPrice or TotalPrice",
            ["UnitPrice", "TotalPrice"],
        )
    quantity = line.get("Quantity")
    if not isinstance(quantity, Decimal) or quantity == 0:
        return
    if "TotalPrice" in values and values["TotalPrice"] is not None:
        values["UnitPrice"] = (values["TotalPrice"] / quantity).quantize(_CENT)
    elif line.get("UnitPrice") is not None and ({"UnitPrice", "Quantity"} & values.keys()):
        values["TotalPrice"] = (quantity * line["UnitPrice"]).quantize(_CENT)


def _decimals(sobject: str, record: Record) -> Record:
    """Whole numbers in currency/number fields back to Decimal (JSON `14400` decodes as int)."""
    for definition in OBJECTS.get(sobject, {}).values():
        if definition.type in ("currency", "double", "percent") and isinstance(record.get(definition.name), int):
            record[definition.name] = Decimal(record[definition.name])
    return record
