"""A parser for the SOQL subset the project emits, checked against the org's metadata.

    SELECT field[, field...] | COUNT() FROM Opportunity|Account|OpportunityLineItem|Product2
    [WHERE expr]   expr: term [AND term...] | term [OR term...]   term: cond | (expr)
                   cond: field (= | != | < | <= | > | >=) literal | field IN (literal, ...)
    [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST][, ...]] [LIMIT n] [OFFSET n]

Literals: 'strings' (backslash escapes), numbers, true/false, null, dates (2026-11-30) and datetimes
(2026-11-27T10:00:00Z, .000+0000 forms). A field may be a parent relationship path
(`Product2.ProductCode`, `Account.Name`). Errors are Salesforce's: MALFORMED_QUERY for syntax,
INVALID_TYPE for an unknown object, INVALID_FIELD for an unknown field or a mistyped literal.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any, Final

import msgspec

from system_apis.crm.sandbox.errors import ApiError
from system_apis.crm.sandbox.schema import OBJECTS, RELATIONSHIPS, FieldDef, field_def
from system_apis.crm.sandbox.store import parse_datetime
from system_apis.crm.sandbox.values import TEXT_TYPES

__all__ = ["AnyOf", "Condition", "FieldRef", "OrderItem", "Query", "WhereItem", "parse_soql"]

_TOKEN: Final = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^'\\]|\\.)*')
     |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
     |(?P<date>\d{4}-\d{2}-\d{2})
     |(?P<number>-?\d+(?:\.\d+)?)
     |(?P<op><=|>=|!=|<>|=|<|>)
     |(?P<punct>[(),])
     |(?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)
    )""",
    re.VERBOSE,
)
_NUMERIC: Final = frozenset({"currency", "double", "percent", "int"})
_TEXT: Final = TEXT_TYPES
_TYPE_NAMES: Final = {"datetime": "dateTime", "date": "date", "boolean": "boolean"}


class FieldRef(msgspec.Struct, frozen=True):
    """A selected or filtered field: on the queried object, or on a parent through `relationship`."""

    definition: FieldDef
    relationship: str | None = None
    parent: str | None = None

    @property
    def path(self) -> str:
        return f"{self.relationship}.{self.definition.name}" if self.relationship else self.definition.name


class Condition(msgspec.Struct, frozen=True):
    field: FieldRef
    op: str
    value: Any


class AnyOf(msgspec.Struct, frozen=True):
    """A parenthesised disjunction: true when every item of one of `branches` is true."""

    branches: tuple[tuple[WhereItem, ...], ...]


WhereItem = Condition | AnyOf


class OrderItem(msgspec.Struct, frozen=True):
    field: FieldRef
    descending: bool = False
    nulls_last: bool = False


class Query(msgspec.Struct, frozen=True):
    sobject: str
    fields: tuple[FieldRef, ...]
    #: Conditions joined with AND (a top-level OR is one AnyOf).
    where: tuple[WhereItem, ...] = ()
    order: tuple[OrderItem, ...] = ()
    limit: int | None = None
    offset: int = 0
    #: `SELECT COUNT() ...`: the answer is the number of matching rows (`totalSize`), no records.
    count: bool = False


def _malformed(message: str) -> ApiError:
    return ApiError(400, "MALFORMED_QUERY", message)


class _Tokens:
    def __init__(self, text: str) -> None:
        self.items: list[tuple[str, str]] = []
        position = 0
        text = text.rstrip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise _malformed(f"unexpected token: '{text[position:].split()[0]}'")
            kind = match.lastgroup or ""
            self.items.append((kind, match.group(kind)))
            position = match.end()
        self.index = 0

    def peek(self) -> tuple[str, str] | None:
        return self.items[self.index] if self.index < len(self.items) else None

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].upper() in words:
            self.index += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            token = self.peek()
            raise _malformed(f"unexpected token: '{token[1] if token else '<EOF>'}', expecting {word}")

    def take(self, *kinds: str) -> tuple[str, str]:
        token = self.peek()
        if token is None or token[0] not in kinds:
            raise _malformed(f"unexpected token: '{token[1] if token else '<EOF>'}'")
        self.index += 1
        return token

    def punct(self, char: str) -> bool:
        token = self.peek()
        if token == ("punct", char):
            self.index += 1
            return True
        return False


def _resolve(sobject: str, name: str) -> FieldRef:
    relationship, _, leaf = name.rpartition(".")
    if relationship:
        link = next((v for k, v in RELATIONSHIPS.get(sobject, {}).items() if k.lower() == relationship.lower()), None)
        definition = field_def(link[1], leaf) if link else None
        if link is None or definition is None:
            raise ApiError(
                400,
                "INVALID_FIELD",
                f"Didn't understand relationship '{relationship}' in field path. If you are attempting to use a "
                "custom relationship, be sure to append the '__r' after the custom relationship name.",
            )
        canonical = next(k for k in RELATIONSHIPS[sobject] if k.lower() == relationship.lower())
        return FieldRef(definition, canonical, link[1])
    found = field_def(sobject, name)
    if found is None:
        raise ApiError(
            400,
            "INVALID_FIELD",
            f"No such column '{name}' on entity '{sobject}'. If you are attempting to use a custom field, be sure "
            "to append the '__c' after the custom field name.",
        )
    return FieldRef(found)


def _literal(tokens: _Tokens, ref: FieldRef) -> Any:
    kind, text = tokens.take("string", "datetime", "date", "number", "word")
    expected = ref.definition.type
    value: Any
    if kind == "word":
        upper = text.upper()
        if upper == "NULL":
            return None
        if upper not in ("TRUE", "FALSE"):
            raise _malformed(f"unexpected token: '{text}'")
        value, kind = upper == "TRUE", "boolean"
    elif kind == "string":
        value = re.sub(r"\\(.)", r"\1", text[1:-1])
    elif kind == "number":
        value = Decimal(text)
    elif kind == "datetime":
        value = parse_datetime(text)
    else:
        value = date.fromisoformat(text)
    fits = (
        (kind == "string" and expected in _TEXT)
        or (kind == "number" and expected in _NUMERIC)
        or (kind == expected and kind in ("boolean", "datetime", "date"))
    )
    if not fits:
        wanted = _TYPE_NAMES.get(expected, "string" if expected in _TEXT else "number")
        quoted = "should be enclosed in quotes" if expected in _TEXT else "should not be enclosed in quotes"
        raise ApiError(
            400,
            "INVALID_FIELD",
            f"value of filter criterion for field '{ref.path}' must be of type {wanted} and {quoted}",
        )
    return value


def _condition(tokens: _Tokens, sobject: str) -> Condition:
    ref = _resolve(sobject, tokens.take("word")[1])
    if tokens.keyword("IN"):
        if not tokens.punct("("):
            raise _malformed("unexpected token, expecting '(' after IN")
        values = [_literal(tokens, ref)]
        while tokens.punct(","):
            values.append(_literal(tokens, ref))
        if not tokens.punct(")"):
            raise _malformed("unexpected token, expecting ')'")
        return Condition(ref, "IN", tuple(values))
    op = tokens.take("op")[1]
    return Condition(ref, "!=" if op == "<>" else op, _literal(tokens, ref))


def _term(tokens: _Tokens, sobject: str) -> tuple[WhereItem, ...]:
    if not tokens.punct("("):
        return (_condition(tokens, sobject),)
    inner = _disjunction(tokens, sobject)
    if not tokens.punct(")"):
        token = tokens.peek()
        raise _malformed(f"unexpected token: '{token[1] if token else '<EOF>'}', expecting ')'")
    return inner


def _disjunction(tokens: _Tokens, sobject: str) -> tuple[WhereItem, ...]:
    """`a AND b ...` or `a OR b ...` (items may be parenthesised); the AND-joined items it stands for."""
    branches = [_term(tokens, sobject)]
    joiner = None
    while True:
        word = "AND" if tokens.keyword("AND") else "OR" if tokens.keyword("OR") else None
        if word is None:
            break
        if joiner not in (None, word):
            # SOQL, like us, refuses `a AND b OR c`: the grouping must be spelled out.
            raise _malformed(f"unexpected token: '{word}': use parentheses to mix AND and OR")
        joiner = word
        branches.append(_term(tokens, sobject))
    if joiner == "OR":
        return (AnyOf(tuple(branches)),)
    return tuple(item for branch in branches for item in branch)


def parse_soql(text: str) -> Query:
    """Parse and check one query against the org's metadata; raises ApiError like the REST API."""
    tokens = _Tokens(text)
    tokens.expect_keyword("SELECT")
    names: list[str] = []
    count = tokens.keyword("COUNT")
    if count:
        if not (tokens.punct("(") and tokens.punct(")")):
            raise _malformed("COUNT() takes no field: use SELECT COUNT() FROM ...")
    else:
        names.append(tokens.take("word")[1])
        while tokens.punct(","):
            names.append(tokens.take("word")[1])
    tokens.expect_keyword("FROM")
    raw_object = tokens.take("word")[1]
    sobject = next((name for name in OBJECTS if name.lower() == raw_object.lower()), None)
    if sobject is None:
        raise ApiError(400, "INVALID_TYPE", f"sObject type '{raw_object}' is not supported.")
    fields = tuple(_resolve(sobject, name) for name in names)
    where: tuple[WhereItem, ...] = ()
    if tokens.keyword("WHERE"):
        where = _disjunction(tokens, sobject)
    order: list[OrderItem] = []
    if tokens.keyword("ORDER"):
        tokens.expect_keyword("BY")
        while True:
            ref = _resolve(sobject, tokens.take("word")[1])
            descending = tokens.keyword("DESC")
            if not descending:
                tokens.keyword("ASC")
            # SOQL's default: nulls first when ascending, last when descending.
            nulls_last = descending
            if tokens.keyword("NULLS"):
                nulls_last = tokens.keyword("LAST")
                if not nulls_last:
                    tokens.expect_keyword("FIRST")
            order.append(OrderItem(ref, descending, nulls_last))
            if not tokens.punct(","):
                break
    limit = offset = None
    if tokens.keyword("LIMIT"):
        limit = int(tokens.take("number")[1])
    if tokens.keyword("OFFSET"):
        offset = int(tokens.take("number")[1])
    rest = tokens.peek()
    if rest is not None:
        raise _malformed(f"unexpected token: '{rest[1]}'")
    if limit is not None and limit < 0:
        raise _malformed("LIMIT must be a non-negative integer")
    if count and order:
        raise _malformed("ORDER BY is not allowed in a COUNT() query")
    return Query(sobject, fields, where, tuple(order), limit, offset or 0, count)
