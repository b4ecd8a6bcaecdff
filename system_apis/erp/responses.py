"""The documented problem responses of the ERP API's operations (OpenAPI `responses`)."""

from __future__ import annotations

from litestar.openapi import ResponseSpec

from contracts import Problem
from contracts.headers import PROBLEM_JSON

__all__ = ["problems"]

_PROBLEMS = {
    401: "No or invalid bearer token",
    403: "The token lacks the scope",
    404: "No such record in the ERP",
    409: "The update carries fields its origin does not own (`field-ownership`); nothing was written",
    422: "The ERP refused the data, or it has no ERP equivalent; `errors[].location` names the field",
    502: "The ERP answered with an error or an unreadable body",
    503: "The ERP is unreachable or kept throttling after retries",
}


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(
            data_container=Problem, description=_PROBLEMS[status], media_type=PROBLEM_JSON, generate_examples=False
        )
        for status in statuses
    }
