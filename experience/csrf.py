"""CSRF protection for every form: a per-session token, checked on every POST.

The token is random, lives in the server-side session and is rendered into each form as the hidden
field `csrf_token`; a POST whose field does not match (constant-time compare) is refused with 403
before anything is read or changed. A request whose `Origin` is another site's is refused too.
`SameSite=Lax` on the session cookie is the second layer, not the only one.
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import urlsplit

from litestar import Request

from experience.auth import SignedIn
from experience.errors import CsrfRefused
from experience.settings import ConsoleSettings

__all__ = ["FIELD", "checked_form"]

FIELD = "csrf_token"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def checked_form(request: Request[Any, Any, Any], who: SignedIn, settings: ConsoleSettings) -> dict[str, str]:
    """The submitted form's fields, after checking its CSRF token and origin; `CsrfRefused` otherwise."""
    origin = request.headers.get("origin")
    if origin is not None and origin != "null" and origin != _origin(settings.public_url):
        raise CsrfRefused(f"This form was sent from {origin}, not from the console: nothing was changed.")
    form = await request.form()
    sent = form.get(FIELD)
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), who.session.csrf.encode()):
        raise CsrfRefused(
            "The form's security token is missing or out of date: nothing was changed. Reload the page and try again."
        )
    return {k: v.strip() for k, v in form.items() if isinstance(v, str) and k != FIELD}
