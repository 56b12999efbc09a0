"""Health and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from zhifu.api.deps import RuntimeDep
from zhifu.errors import ServiceUnavailable

router = APIRouter(tags=["system"])


@router.get("/healthz")
async def healthz(runtime: RuntimeDep) -> dict[str, str]:
    """The server is up and its database answers."""
    try:
        await runtime.db.fetch_one("select 1")
    except Exception as error:
        raise ServiceUnavailable("the database is unreachable") from error
    return {"status": "ok", "database": "ok"}


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
