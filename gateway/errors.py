"""The gateway's errors: the refusals it adds to servicekit's problem hierarchy, and config errors.

ServiceError (servicekit)
├── ProblemError              rendered as problem+json by servicekit.problems
│   ├── MethodNotAllowed      405  the path is known, the method is not (carries `Allow`)
│   ├── Gone                  410  the API version is retired
│   ├── PayloadTooLarge       413  the request body is over the limit
│   ├── UnsupportedMediaType  415  the body's Content-Type is not one the operation accepts
│   └── HeadersTooLarge       431  the request's header block is over the limit
└── ConfigError               the route table is invalid; start-up stops with the field named
"""

from __future__ import annotations

from collections.abc import Iterable

from servicekit import ProblemError, ServiceError

__all__ = [
    "ConfigError",
    "Gone",
    "HeadersTooLarge",
    "MethodNotAllowed",
    "PayloadTooLarge",
    "UnsupportedMediaType",
]


class MethodNotAllowed(ProblemError):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"

    def __init__(self, method: str, path: str, allowed: Iterable[str]) -> None:
        allow = ", ".join(sorted(allowed))
        super().__init__(f"{method} is not allowed on {path}; allowed: {allow}.", headers={"Allow": allow})


class PayloadTooLarge(ProblemError):
    status, slug, title = 413, "payload-too-large", "Request body too large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body is larger than the limit of {limit} bytes.", extensions={"limit": limit})


class Gone(ProblemError):
    status, slug, title = 410, "version-retired", "API version retired"


class UnsupportedMediaType(ProblemError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class HeadersTooLarge(ProblemError):
    status, slug, title = 431, "headers-too-large", "Request header fields too large"

    def __init__(self, limit: int) -> None:
        detail = f"The request headers are larger than the limit of {limit} bytes."
        super().__init__(detail, extensions={"limit": limit})


class ConfigError(ServiceError, ValueError):
    """The gateway configuration is invalid; the message names the file and the field."""
