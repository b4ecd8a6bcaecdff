"""Who acted, as run gates, exception histories and settled proposals record it.

A token whose subject is its client (a client-credentials token, RFC 9068 section 2.2) is a
machine: `client:<client_id>`. A token whose subject differs from its client is a person signed in
through that client (the console, or any OpenID provider's app): `person:<sub>`. The audit log
keeps both apart in its own fields; this is the one-string form the workflow state carries.
"""

from __future__ import annotations

from servicekit.auth import TokenClaims

__all__ = ["actor_of", "is_manual"]

_MANUAL = ("client:", "person:")


def actor_of(claims: TokenClaims | None) -> str:
    """`person:<sub>` for a person's token, `client:<client_id>` for a machine's, `client:anonymous`
    with authentication off."""
    if claims is None:
        return "client:anonymous"
    if claims.subject != claims.client_id:
        return f"person:{claims.subject}"
    return f"client:{claims.client_id}"


def is_manual(actor: str) -> bool:
    """Whether a gate was entered by a caller (a person or a client), not by the platform itself
    (an event, the sweep, a schedule)."""
    return actor.startswith(_MANUAL)
