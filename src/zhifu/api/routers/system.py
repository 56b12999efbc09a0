"""Health and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from zhifu.api.deps import RuntimeDep
from zhifu.api.schemas.system import HealthOut

router = APIRouter(tags=["system"])

HEALTH_TIMEOUT = 0.8  # seconds: a health check answers within a second, up or down


@router.get("/healthz", response_model=HealthOut)
async def healthz(runtime: RuntimeDep) -> dict[str, str]:
    """The server is up and its database answers (503 problem+json within a second if not)."""
    await runtime.db.ping(HEALTH_TIMEOUT)
    return {"status": "ok", "database": "ok"}


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
