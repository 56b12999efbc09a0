"""Every error leaves as RFC 9457 problem+json with a stable `code`; never a traceback."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from zhifu.errors import ZhifuError
from zhifu.logging import get_logger
from zhifu.metrics import ERRORS

log = get_logger("zhifu.api")

# A validation failure on one of these fields gets the field's own stable code.
FIELD_CODES = {"amount": "invalid_amount", "currency": "unknown_currency"}
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


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc if part != "body") or "body"


async def on_domain_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ZhifuError)
    return problem(request, error.status, error.code, error.title, error.message, **error.details)


async def on_validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [
        {"field": _field(tuple(e.get("loc", ()))), "message": str(e.get("msg", "invalid"))}
        for e in error.errors()
    ]
    if any(e.get("type") == "json_invalid" for e in error.errors()):
        return problem(
            request, 400, "malformed_json", "Malformed JSON", "the body is not valid JSON"
        )
    last = [str(e.get("loc", ("",))[-1]) for e in error.errors()]
    codes = {FIELD_CODES[name] for name in last if name in FIELD_CODES}
    code = codes.pop() if len(codes) == 1 and len(last) == 1 else "invalid_request"
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(request, 422, code, "Invalid request", detail, errors=errors)


async def on_http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = HTTP_CODES.get(error.status_code, "http_error")
    return problem(request, error.status_code, code, str(error.detail), str(error.detail))


async def on_unexpected_error(request: Request, error: Exception) -> JSONResponse:
    log.error("unhandled error", error=type(error).__name__, path=request.url.path)
    return problem(request, 500, "internal_error", "Internal error", "an unexpected error occurred")


def install(app: FastAPI) -> None:
    app.add_exception_handler(ZhifuError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected_error)
