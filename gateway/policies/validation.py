"""Request validation against the committed OpenAPI document, before the upstream is called.

Parameters (path, query, header) and a JSON body are checked by the jsonschema-rs validators
compiled at load (`gateway.validation`); every violation is listed in the problem+json `errors`
(400 `invalid-request`; a body that is not JSON is 400 `malformed-json`). Response validation is
report-only and per route (`validate_responses`): a mismatch is logged and counted
(`HINCRBY fig:gateway:response-violations <operationId> 1`), the answer goes out unchanged.
"""

from __future__ import annotations

import logging

import msgspec

from contracts import ProblemFieldError
from gateway.catalogue import Operation
from gateway.exchange import Exchange
from gateway.redisbatch import RedisBatcher
from servicekit import BadRequest

__all__ = ["RESPONSE_VIOLATIONS", "ValidationPolicy", "report_response"]

RESPONSE_VIOLATIONS = "fig:gateway:response-violations"

log = logging.getLogger("gateway.validation")


class ValidationPolicy:
    """400 `invalid-request` listing every violation of the operation's parameters and body."""

    async def apply(self, exchange: Exchange) -> None:
        operation = exchange.operation
        if operation is None:
            return
        errors: list[ProblemFieldError] = []
        if not operation.parameters.empty:
            errors.extend(operation.parameters.errors(exchange.path_params, exchange.query, exchange.headers))
        if operation.bodies:
            media = (exchange.header(b"content-type") or b"").split(b";", 1)[0].strip().lower().decode("latin-1")
            validator = operation.bodies.get(media)
            # Only JSON bodies are read here; others stay unread, so the proxy may stream them.
            if validator is not None and await exchange.read_body():
                errors.extend(validator.errors(await exchange.json_body()))
            elif operation.body_required and not exchange.has_body():
                errors.append(ProblemFieldError(location="$", message="a request body is required"))
        if errors:
            raise BadRequest(
                f"The request does not match the contract of {operation.operation_id}: {len(errors)} violation(s).",
                slug="invalid-request",
                title="Invalid request",
                errors=errors,
            )


def report_response(
    batcher: RedisBatcher, operation: Operation, status: int, content_type: bytes | None, body: bytes
) -> None:
    """Report-only check of an upstream answer; logs and counts a mismatch, never raises."""
    validator = operation.responses.get(status)
    if validator is None or not (content_type or b"").startswith(b"application/json"):
        return
    try:
        errors = validator.errors(msgspec.json.decode(body))
    except msgspec.DecodeError:
        errors = [ProblemFieldError(location="$", message="the response body is not JSON")]
    if errors:
        batcher.hincrby(RESPONSE_VIOLATIONS, operation.operation_id)
        log.warning(
            "upstream response violates the contract",
            extra={"operation": operation.operation_id, "status": status, "errors": [e.message for e in errors[:5]]},
        )
