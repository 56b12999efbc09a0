from __future__ import annotations

import httpx


async def test_healthz_and_metrics(client: httpx.AsyncClient) -> None:
    health = await client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["database"] == "ok"
    metrics = await client.get("/metrics")
    assert "zhifu_http_requests_total" in metrics.text


async def test_unknown_route_is_problem_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/thing", headers={"X-Request-Id": "abc-123"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"
    assert response.headers["x-request-id"] == "abc-123"


async def test_openapi_is_3_1(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
