"""The IdP's HTML: the sign-in form and its error pages, self-contained (no external assets).

Every page forbids framing (clickjacking), caching and referrers, and loads nothing from
elsewhere (`default-src 'none'`); user-supplied text is always escaped.
"""

from __future__ import annotations

from html import escape

from litestar import Response

__all__ = ["html_page", "login_page"]

_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_STYLE = (
    "body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0}"
    "main{max-width:22rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;"
    "box-shadow:0 1px 4px #0002}h1{font-size:1.25rem;margin-top:0}label{display:block;margin:.75rem 0 .25rem}"
    "input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}"
    "button{margin-top:1.25rem;width:100%;padding:.6rem;font-size:1rem}"
    ".error{color:#a00;background:#fee;padding:.5rem;border-radius:4px}"
)


def html_page(title: str, body: str, *, status: int = 200, headers: dict[str, str] | None = None) -> Response[str]:
    """A complete page around `body` (already escaped HTML) with the security headers."""
    document = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><main>{body}</main></body></html>"
    )
    return Response(
        content=document,
        status_code=status,
        media_type="text/html; charset=utf-8",
        headers={**_HEADERS, **(headers or {})},
    )


def login_page(
    *,
    login_id: str,
    client: str,
    username: str = "",
    error: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response[str]:
    """The sign-in form; it posts back to `/oauth2/login` with the pending sign-in's id."""
    notice = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = (
        f"<h1>Sign in</h1><p>to continue to <strong>{escape(client)}</strong></p>{notice}"
        '<form method="post" action="/oauth2/login">'
        f'<input type="hidden" name="login_id" value="{escape(login_id)}">'
        '<label for="username">Username</label>'
        f'<input id="username" name="username" autocomplete="username" required value="{escape(username)}">'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password" autocomplete="current-password" required>'
        '<button type="submit">Sign in</button></form>'
    )
    return html_page("Sign in", body, status=status, headers=headers)
