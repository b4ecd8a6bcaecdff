"""Customer-master field ownership at a system API boundary: refuse, name the owner, count it.

An update may only carry fields its origin owns (`contracts.ownership`). A refused update is a
409 `field-ownership` problem with one error per field, nothing is written, and each refused
field is counted in `fig:ops:policy-violations` for the ops dashboards.
"""

from __future__ import annotations

import logging
from typing import Final

from redis.exceptions import RedisError

from contracts import CustomerMasterUpdate, ProblemFieldError, ownership_violations
from servicekit.errors import Conflict
from servicekit.redis import RedisClient

__all__ = ["POLICY_VIOLATIONS_KEY", "enforce_ownership", "violation_field"]

log = logging.getLogger("servicekit.ownership")

#: A plain hash (no hash tag): each HINCRBY is one single-key operation.
POLICY_VIOLATIONS_KEY: Final = "fig:ops:policy-violations"


def violation_field(owner: str, field: str) -> str:
    """The hash field a violation is counted under, e.g. `customer_master:erp:terms`."""
    return f"customer_master:{owner}:{field}"


async def enforce_ownership(redis: RedisClient, update: CustomerMasterUpdate) -> None:
    """Return when `update.origin` owns every field it changes; otherwise count and raise Conflict (409)."""
    violations = ownership_violations(update.origin, update.changes.fields_set())
    if not violations:
        return
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for violation in violations:
                pipe.hincrby(POLICY_VIOLATIONS_KEY, violation_field(violation.owner, violation.field), 1)
            await pipe.execute()
    except RedisError as exc:
        # The refusal matters more than its count: still refuse, and say the count was lost.
        log.warning("policy violation not counted", extra={"error": str(exc), "key": POLICY_VIOLATIONS_KEY})
    named = ", ".join(f"{v.field} (owned by {v.owner})" for v in violations)
    raise Conflict(
        f"An update originating in {update.origin} may not change {named}; nothing was written.",
        slug="field-ownership",
        title="Field owned by another system",
        code="FIELD_OWNERSHIP",
        errors=[
            ProblemFieldError(
                location=f"$.changes.{v.field}",
                message=f"{v.field} is owned by {v.owner}; an update originating in {v.origin} may not change it",
            )
            for v in violations
        ],
    )
