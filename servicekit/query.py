"""Query parameters decoded as strictly as bodies: a value of the wrong form is a 400 naming it.

Litestar 2.x converts query strings with msgspec's lax mode, which takes `changed_since=0.5` as an
epoch timestamp, `limit=1e2` as 100 and `won=1` as true, none of which the published schema
allows. `strict_query` is a `before_request` hook (it runs before the handler's arguments are
parsed) that checks the raw text of each declared date-time, date, time, integer and boolean query
parameter against the form the document promises; Litestar still applies bounds, patterns and enums.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any

import msgspec
from litestar import Request
from litestar.enums import ParamType
from litestar.handlers import HTTPRouteHandler
from litestar.params import ParameterKwarg
from litestar.typing import FieldDefinition

from contracts import ProblemFieldError
from servicekit.errors import BadRequest

__all__ = ["strict_query"]

#: A check of one raw value: the problem in words, or None when the value has the promised form.
Check = Callable[[str], str | None]

_INTEGER = re.compile(r"-?[0-9]+")


def _integer(raw: str) -> str | None:
    return None if _INTEGER.fullmatch(raw) else "Expected an integer such as 20"


def _boolean(raw: str) -> str | None:
    return None if raw in ("true", "false") else "Expected `true` or `false`"


def _temporal(kind: type[Any], example: str) -> Check:
    def check(raw: str) -> str | None:
        try:
            msgspec.convert(raw, kind, strict=True)
        except msgspec.ValidationError:
            return f"Expected an ISO 8601 {kind.__name__} such as {example}"
        return None

    return check


_CHECKS: dict[type[msgspec.inspect.Type], Check] = {
    msgspec.inspect.IntType: _integer,
    msgspec.inspect.BoolType: _boolean,
    msgspec.inspect.DateTimeType: _temporal(datetime, "2026-11-30T09:00:00Z"),
    msgspec.inspect.DateType: _temporal(date, "2026-11-30"),
    msgspec.inspect.TimeType: _temporal(time, "09:00:00"),
}


def _check_for(field: FieldDefinition) -> Check | None:
    try:
        info = msgspec.inspect.type_info(field.annotation)
    except (TypeError, ValueError):
        return None
    if isinstance(info, msgspec.inspect.UnionType):
        kinds = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        if len(kinds) != 1:
            return None
        info = kinds[0]
    if isinstance(info, msgspec.inspect.Metadata):
        info = info.type
    return _CHECKS.get(type(info))


def _query_checks(handler: HTTPRouteHandler) -> dict[str, Check]:
    checks = {}
    for name, field in handler.parsed_fn_signature.parameters.items():
        kwarg = field.kwarg_definition
        if isinstance(kwarg, ParameterKwarg) and kwarg.param_type != ParamType.QUERY:
            continue
        check = _check_for(field)
        if check is not None:
            key = kwarg.name if isinstance(kwarg, ParameterKwarg) and kwarg.name else name
            checks[key] = check
    return checks


def strict_query() -> Callable[[Request[Any, Any, Any]], Any]:
    """The `before_request` hook; the checks of each handler are derived once, on its first request."""
    known: dict[int, dict[str, Check]] = {}

    async def before_request(request: Request[Any, Any, Any]) -> None:
        query = request.query_params
        if not query:
            return
        handler = request.route_handler
        checks = known.get(id(handler))
        if checks is None:
            checks = known[id(handler)] = _query_checks(handler) if isinstance(handler, HTTPRouteHandler) else {}
        errors = [
            ProblemFieldError(location=name, message=problem)
            for name, raw in query.multi_items()
            if name in checks and name not in request.path_params
            for problem in [checks[name](raw)]
            if problem is not None
        ]
        if errors:
            names = ", ".join(sorted({e.location for e in errors}))
            raise BadRequest(
                f"Query parameter {names} does not match the contract: {errors[0].message}.",
                slug="invalid-request",
                title="Invalid request",
                errors=errors,
            )

    return before_request
