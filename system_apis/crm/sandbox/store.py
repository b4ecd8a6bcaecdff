"""The emulated org's records, validated writes, and persistence to one JSON file.

Records are kept as Salesforce writes them on the wire: datetimes as `2026-11-27T10:00:00.000+0000`,
dates as `YYYY-MM-DD`, currency and number fields as Decimal. Every change is persisted at once
(temp file + rename, so a crash leaves the old or the new file, never half of one).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from system_apis.crm.sandbox.errors import ApiError, encode
from system_apis.crm.sandbox.schema import OBJECTS, STAGE_BY_NAME, FieldDef, field_def, key_prefix

__all__ = ["OrgStore", "Record", "format_datetime", "make_id", "parse_datetime"]

Record = dict[str, Any]
Clock = Callable[[], datetime]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


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
    ) -> None:
        self.tables: dict[str, dict[str, Record]] = {name: dict(tables.get(name, {})) for name in OBJECTS}
        self.sequence = sequence
        self.path = path
        self.clock = clock

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
        self.save()
        return record

    def update(self, sobject: str, record_id: str, fields: Mapping[str, Any], *, persist: bool = True) -> Record:
        """Validate and apply `fields`, touch the modstamps; `persist=False` leaves saving to the caller."""
        record = self.get(sobject, record_id)
        if record is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        values = self._validated(sobject, fields, creating=False)
        record.update(values)
        self._derive(sobject, record, stage_changed="StageName" in values, probability_given="Probability" in values)
        self.touch(record)
        if persist:
            self.save()
        return record

    def touch(self, record: Record) -> None:
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
        return encode({"sequence": self.sequence, "tables": self.tables})

    def save(self) -> None:
        """Write the whole org atomically: a temp file in the same directory, then rename over."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(self.snapshot())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path, *, clock: Clock = _now) -> OrgStore:
        """Reload a persisted org; numbers come back as Decimal, never float."""
        state = json.loads(path.read_bytes(), parse_float=Decimal)
        tables = state["tables"]
        for sobject, rows in tables.items():
            numeric = [f.name for f in OBJECTS.get(sobject, {}).values() if f.type in ("currency", "double", "percent")]
            for record in rows.values():
                for name in numeric:
                    if isinstance(record.get(name), int):
                        record[name] = Decimal(record[name])
        return cls(tables, sequence=int(state["sequence"]), path=path, clock=clock)
