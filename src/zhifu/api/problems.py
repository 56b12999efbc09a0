"""Every error leaves as RFC 9457 problem+json with a stable `code`; never a traceback."""

from __future__ import annotations

import html
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from zhifu.api.deps import IDEMPOTENCY_KEY, KEY_REQUIRED
from zhifu.errors import IdempotencyKeyRequired, ZhifuError
from zhifu.logging import get_logger
from zhifu.metrics import ERRORS
from zhifu.web.kit.session import page_headers

log = get_logger("zhifu.api")

# A validation failure on one of these fields gets the field's own stable code.
FIELD_CODES = {"amount": "invalid_amount", "currency": "unknown_currency"}
KEY_LOCATION = ("header", IDEMPOTENCY_KEY)
HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def problem(
    request: Request, status: int, code: str, title: str, detail: str, **extra: Any
) -> JSONResponse:
    ERRORS.labels(code=code).inc()
    body = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.url.path,
        "request_id": getattr(request.state, "request_id", None),
        **extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


# The web apps' paths: a browser there gets a page, not problem+json.
WEB_PREFIXES = ("/wallet", "/merchant", "/checkout", "/language")
BAD_REQUEST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>{title}</h1><p>{detail}. Nothing was done.</p><p><a href="/">zhifu</a></p></body>
</html>
"""


class RefusedInput(StarletteHTTPException):
    """Input refused at the edge (api.middleware.InputGuard) while an endpoint reads the
    body: an HTTPException, so that FastAPI lets it through to `on_refused_input`."""

    def __init__(self, error: ZhifuError) -> None:
        super().__init__(error.status, error.message)
        self.error = error


def is_page(path: str) -> bool:
    return path == "/" or any(path == p or path.startswith(f"{p}/") for p in WEB_PREFIXES)


def refused_input(request: Request, error: ZhifuError) -> Response:
    """Input refused at the edge: a plain page on the web apps' paths, else problem+json."""
    if not is_page(request.url.path):
        return problem(request, error.status, error.code, error.title, error.message)
    ERRORS.labels(code=error.code).inc()
    page = BAD_REQUEST_PAGE.format(
        title=html.escape(error.title), detail=html.escape(error.message)
    )
    return HTMLResponse(page, status_code=error.status, headers=page_headers())


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc if part != "body") or "body"


async def on_domain_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ZhifuError)
    return problem(request, error.status, error.code, error.title, error.message, **error.details)


def _missing_idempotency_key(error: Any) -> bool:
    return bool(error.get("type") == "missing" and tuple(error.get("loc", ())) == KEY_LOCATION)


async def on_validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [
        {"field": _field(tuple(e.get("loc", ()))), "message": str(e.get("msg", "invalid"))}
        for e in error.errors()
    ]
    if any(_missing_idempotency_key(e) for e in error.errors()):
        return await on_domain_error(request, IdempotencyKeyRequired(KEY_REQUIRED))
    if any(e.get("type") == "json_invalid" for e in error.errors()):
        return problem(
            request, 400, "malformed_json", "Malformed JSON", "the body is not valid JSON"
        )
    last = [str(e.get("loc", ("",))[-1]) for e in error.errors()]
    codes = {FIELD_CODES[name] for name in last if name in FIELD_CODES}
    code = codes.pop() if len(codes) == 1 and len(last) == 1 else "invalid_request"
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(request, 422, code, "Invalid request", detail, errors=errors)


async def on_refused_input(request: Request, error: Exception) -> Response:
    assert isinstance(error, RefusedInput)
    return refused_input(request, error.error)


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """Every method some route takes at this path (Starlette names only the first route's)."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    )


async def on_http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = HTTP_CODES.get(error.status_code, "http_error")
    answer = problem(request, error.status_code, code, str(error.detail), str(error.detail))
    if error.status_code == 405:
        answer.headers["Allow"] = allowed_methods(request)
    return answer


async def on_unexpected_error(request: Request, error: Exception) -> JSONResponse:
    log.error("unhandled error", error=type(error).__name__, path=request.url.path)
    return problem(request, 500, "internal_error", "Internal error", "an unexpected error occurred")


def install(app: FastAPI) -> None:
    app.add_exception_handler(ZhifuError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(RefusedInput, on_refused_input)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected_error)
