"""`/docs` (Swagger UI) and `/redoc` (ReDoc) from files shipped in the fastapi-offline
wheel: nothing is fetched from the internet, and the pages get the web apps' security
headers, with what the two viewers need on top: their one inline script (by hash),
inline styles, data: images and ReDoc's blob: worker."""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse

from zhifu.web.kit.session import page_headers

ASSETS_PATH = "/static/api-docs"
_ASSETS_DIR = str(files("fastapi_offline") / "static")
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _headers(page: HTMLResponse) -> dict[str, str]:
    """The web apps' headers; the policy allows this page's inline script by its hash."""
    hashes = " ".join(
        "'sha256-%s'" % base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()  # noqa: UP031
        for script in _INLINE_SCRIPT.findall(bytes(page.body).decode())
    )
    policy = (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src blob:; "
        "base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
    )
    return {**page_headers(), "Content-Security-Policy": policy}


def _served(page: HTMLResponse) -> HTMLResponse:
    return HTMLResponse(page.body, headers=_headers(page))


def install(app: FastAPI) -> None:
    """Mount the viewers' assets and add the two pages (the app is made with
    `docs_url=None, redoc_url=None`, so FastAPI's CDN-loading pages are not there)."""
    app.mount(ASSETS_PATH, StaticFiles(directory=_ASSETS_DIR), name="api-docs")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return _served(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{app.title} - Swagger UI",
                swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
                swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
                swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
                swagger_ui_parameters=app.swagger_ui_parameters,
            )
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return _served(
            get_redoc_html(
                openapi_url=openapi_url,
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
                redoc_favicon_url=f"{ASSETS_PATH}/favicon.png",
                with_google_fonts=False,
            )
        )
