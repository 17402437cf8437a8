"""Security headers on every answer (an ASGI middleware).

The dashboard loads its script, stylesheet and icon from this origin only and has no inline
script, so its Content-Security-Policy allows scripts and styles from 'self' alone (plus
``style`` attributes, which the page's SVG charts and colour chips set), API calls to 'self'
and never lets another site frame it. API answers are data: they get a policy that loads
nothing. FastAPI's own /docs and /redoc pages load Swagger UI and ReDoc from a CDN with an
inline bootstrap script, so they keep only ``nosniff`` and the framing ban.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["API_CSP", "DASHBOARD_CSP", "SecurityHeadersMiddleware"]

DASHBOARD_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"
_DOC_PAGES = ("/docs", "/redoc")


def _policy(path: str) -> str | None:
    if path == "/" or path.startswith("/dashboard/"):
        return DASHBOARD_CSP
    if path.startswith(_DOC_PAGES):
        return None
    return API_CSP


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = _policy(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "no-referrer"
                if policy is not None:
                    headers["Content-Security-Policy"] = policy
            await send(message)

        await self.app(scope, receive, send_with_headers)
