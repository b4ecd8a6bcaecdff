"""The gateway's errors: the refusals it adds to servicekit's problem hierarchy, and config errors.

ServiceError (servicekit)
├── ProblemError              rendered as problem+json by servicekit.problems
│   ├── MethodNotAllowed 405  the path is known, the method is not (carries `Allow`)
│   └── PayloadTooLarge  413  the request body is over the limit
└── ConfigError               the route table is invalid; start-up stops with the field named
"""

from __future__ import annotations

from collections.abc import Iterable

from servicekit import ProblemError, ServiceError

__all__ = ["ConfigError", "MethodNotAllowed", "PayloadTooLarge"]


class MethodNotAllowed(ProblemError):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"

    def __init__(self, method: str, path: str, allowed: Iterable[str]) -> None:
        allow = ", ".join(sorted(allowed))
        super().__init__(f"{method} is not allowed on {path}; allowed: {allow}.", headers={"Allow": allow})


class PayloadTooLarge(ProblemError):
    status, slug, title = 413, "payload-too-large", "Request body too large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body is larger than the limit of {limit} bytes.", extensions={"limit": limit})


class ConfigError(ServiceError, ValueError):
    """The gateway configuration is invalid; the message names the file and the field."""
