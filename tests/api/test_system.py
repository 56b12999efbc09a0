from __future__ import annotations

import uuid

import httpx

from zhifu.ledger import AccountKind, open_account, system_account, transfer
from zhifu.runtime import Runtime


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


async def test_metrics_count_ledger_commands(client: httpx.AsyncClient, runtime: Runtime) -> None:
    def accepted_entries(text: str) -> float:
        line = 'zhifu_ledger_commands_total{command="PostEntry",outcome="accepted"} '
        found = [row for row in text.splitlines() if row.startswith(line)]
        return float(found[0].split()[-1]) if found else 0.0

    before = accepted_entries((await client.get("/metrics")).text)
    clearing = await runtime.db.transaction(
        lambda conn: system_account(conn, AccountKind.BANK_CLEARING, "CNY")
    )
    wallet = await runtime.db.transaction(
        lambda conn: open_account(conn, f"test:{uuid.uuid4().hex}", AccountKind.TEST, "CNY")
    )
    await runtime.ledger.execute(transfer(clearing.id, wallet.id, 100, "CNY"))
    assert accepted_entries((await client.get("/metrics")).text) == before + 1
