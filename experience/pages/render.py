"""Rendering a page: the template, the signed-in person and the navigation every page shares."""

from __future__ import annotations

from typing import Any

from litestar.response import Template

from experience.auth import SignedIn

__all__ = ["NAV", "page"]

#: (path, label) of the navigation, in order.
NAV = (
    ("/", "Overview"),
    ("/exceptions", "Exceptions"),
    ("/runs", "Run explorer"),
    ("/reconciliations", "Reconciliation"),
    ("/controls", "Controls"),
    ("/audit", "Audit"),
)


def page(template: str, who: SignedIn, *, active: str, title: str, status: int = 200, **context: Any) -> Template:
    """`template` with the person, their CSRF token (for every form) and the navigation."""
    return Template(
        template_name=template,
        context={
            "person": who.session,
            "csrf": who.session.csrf,
            "nav": NAV,
            "active": active,
            "title": title,
            **context,
        },
        status_code=status,
    )
