"""The console's errors. Each becomes a page (not problem+json: people read them), in `app.py`.

ConsoleError
 ├── NotSignedIn        no valid session: the browser is sent to sign in
 ├── CsrfRefused        a form without this session's CSRF token: 403, nothing changed
 ├── SignInFailed       the IdP refused or answered something unusable during sign-in
 ├── SessionRejected    the gateway no longer accepts the person's token (401): sign in again
 └── ApiUnavailable     the gateway could not be reached or answered 5xx
"""

from __future__ import annotations

from servicekit.errors import ServiceError

__all__ = ["ApiUnavailable", "ConsoleError", "CsrfRefused", "NotSignedIn", "SessionRejected", "SignInFailed"]


class ConsoleError(ServiceError):
    """Root of the console's errors."""

    status = 500


class NotSignedIn(ConsoleError):
    """No session, or it expired: the person signs in again and comes back to `next_path`."""

    status = 401

    def __init__(self, next_path: str = "/") -> None:
        super().__init__("Sign in to continue.")
        self.next_path = next_path


class CsrfRefused(ConsoleError):
    """A state-changing request without this session's CSRF token."""

    status = 403


class SignInFailed(ConsoleError):
    """The sign-in could not be completed; the message says why and is shown to the person."""

    status = 400


class SessionRejected(ConsoleError):
    """The gateway answered 401 to the person's token (revoked, or signed by a retired key)."""

    status = 401


class ApiUnavailable(ConsoleError):
    """The API behind the console is unreachable or failing."""

    status = 502
