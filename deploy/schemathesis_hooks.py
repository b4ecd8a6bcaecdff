"""Schemathesis hooks for `fig contracts test` (loaded by the generated config's `hooks` key).

`token_accepted`: a positive case sent with our bearer token must not be refused with 401. Without
it a token the service does not accept turns every case into a documented 401 and the run is green.

`issued_cursors_only`: a positive case carries no made-up `cursor`. Cursors are opaque values only
the API issues; any other string is a documented 400 (`invalid-cursor`), which no schema can tell
apart from a real one. Negative cases keep theirs.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.generation import GenerationMode

__all__ = ["issued_cursors_only", "token_accepted"]


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    """Registered as schemathesis' `before_call`; see `issued_cursors_only`."""
    del ctx, kwargs
    issued_cursors_only(case)


def issued_cursors_only(case: Any) -> None:
    """Drop the `cursor` query parameter of a positive case (it can only be one the API issued)."""
    meta = getattr(case, "meta", None)
    if meta is not None and meta.generation.mode == GenerationMode.POSITIVE and case.query:
        case.query.pop("cursor", None)


@schemathesis.check
def token_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    """Fail a positive case that carried an Authorization header and got 401."""
    del ctx
    sent = response.request.headers.get("Authorization") if response.request is not None else None
    meta = getattr(case, "meta", None)
    positive = meta is not None and meta.generation.mode == GenerationMode.POSITIVE
    if response.status_code == 401 and sent and positive:
        raise AssertionError(f"a positive case was refused with 401 although it carried a token: {response.text[:200]}")
    return None
