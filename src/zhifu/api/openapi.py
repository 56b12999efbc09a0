"""The REST API's OpenAPI document, completed with what every operation can answer.

FastAPI documents the success and a JSON 422; zhifu refuses with problem+json, from the
edge (input guard, authentication, validation) and from the domain (zhifu.errors). This
module documents those refusals: the ones any operation may give, 401 where a key or a
session is needed, and each router's domain errors (`refusals`, given to `responses=`).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from zhifu.api.schemas.problems import ProblemDetails
from zhifu.errors import ServiceUnavailable, ZhifuError

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetails"}
# Any operation: malformed or refused input (400), a body too large (413) or of another
# media type (415), invalid parameters (422), the database away (503).
EDGE_STATUSES = (400, 413, 415, 422, ServiceUnavailable.status)
SECURED_STATUSES = (401,)
REST_PREFIXES = ("/v1/", "/healthz")
# What deps.idempotency_key accepts: printable, not only spaces (ASCII is what headers carry).
IDEMPOTENCY_KEY_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": 255,
    "pattern": "^[ -~]*[!-~][ -~]*$",
}


def problem_response(status: int) -> dict[str, Any]:
    return {
        "description": f"{HTTPStatus(status).phrase} (problem+json)",
        "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}},
    }


def refusals(*errors: type[ZhifuError]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a router or route: the statuses of the errors it may raise."""
    return {error.status: problem_response(error.status) for error in errors}


def _complete(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    statuses = EDGE_STATUSES + (SECURED_STATUSES if operation.get("security") else ())
    for status in statuses:
        responses.setdefault(str(status), problem_response(status))
    for status, response in responses.items():
        if int(status) >= 400:
            response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}
    for parameter in operation.get("parameters", []):
        if parameter["name"] == "Idempotency-Key":
            parameter["schema"] = IDEMPOTENCY_KEY_SCHEMA


def openapi_document(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    for path, operations in document["paths"].items():
        if path.startswith(REST_PREFIXES):
            for operation in operations.values():
                _complete(operation)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["ProblemDetails"] = ProblemDetails.model_json_schema()
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
