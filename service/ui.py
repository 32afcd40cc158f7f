"""The browser pages: a small Starlette app that serves `service/ui/index.html` and the API page.

service/service.py mounts it at /ui (`StanceFrame.mount_asgi_app(ui_app, path="/ui")`), so
the page and the API share one origin and the page calls `../analyze` with no CORS setup.

Why a separate Starlette app rather than another `@bentoml.api`: BentoML APIs take and
return typed JSON and show up in the OpenAPI document, /metrics and the schemathesis run;
a static HTML page is none of those. A mounted ASGI app is BentoML's documented way to
serve extra routes next to the APIs.

Each page is self-contained (no CDN, no web fonts; the API page's script is a file beside
it), so there is nothing to build. A page is read from disk on each request
(it is small), and importing this module only builds the app: no file is read and no
thread or server is started.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Route

UI_DIR = Path(__file__).resolve().parent / "ui"
INDEX_HTML = UI_DIR / "index.html"
# The API page: Swagger UI from BentoML's bundled assets (same origin), without the Google
# Tag Manager that BentoML's own page at / embeds; / redirects here (service/middleware.py).
API_HTML = UI_DIR / "api.html"
API_JS = UI_DIR / "api.js"
API_CONTENT_SECURITY_POLICY = "; ".join(
    ["default-src 'self'", "img-src 'self' data:", "style-src 'self' 'unsafe-inline'", "connect-src 'self'",
     "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"]
)

# The page talks only to its own origin; the policy makes the browser enforce that.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'unsafe-inline'",
        "style-src 'unsafe-inline'",
        "connect-src 'self'",
        "img-src 'self' data: blob:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidate on every load, so a new deployment's page is never stale.
    "Cache-Control": "no-cache",
}


async def index(request: Request) -> FileResponse:
    """The page (GET and HEAD)."""
    return FileResponse(INDEX_HTML, media_type="text/html; charset=utf-8", headers=HEADERS)


async def api_page(request: Request) -> FileResponse:
    """The API documentation page (GET and HEAD)."""
    headers = HEADERS | {"Content-Security-Policy": API_CONTENT_SECURITY_POLICY}
    return FileResponse(API_HTML, media_type="text/html; charset=utf-8", headers=headers)


async def api_script(request: Request) -> FileResponse:
    return FileResponse(API_JS, media_type="text/javascript; charset=utf-8", headers=HEADERS)


ui_app = Starlette(
    routes=[
        Route("/", index, methods=["GET"], name="ui-index"),
        Route("/api", api_page, methods=["GET"], name="ui-api"),
        Route("/api.js", api_script, methods=["GET"], name="ui-api-script"),
    ]
)
