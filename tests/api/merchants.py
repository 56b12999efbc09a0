"""Helpers of the merchant API tests: merchants with secret keys, trades made and paid
over HTTP, and checking refusals."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from tests.identity.support import PIN, Member
from zhifu.runtime import Runtime


@dataclass(frozen=True)
class MerchantKey:
    """A merchant of the REST API: its id and the headers carrying its secret key."""

    id: int
    headers: dict[str, str]

    def with_key(self, key: str | None = None) -> dict[str, str]:
        """The headers plus an Idempotency-Key (a fresh one unless given)."""
        return {**self.headers, "Idempotency-Key": key or new_key()}


def new_key() -> str:
    return str(uuid.uuid4())


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def onboard(runtime: Runtime, fee_rate_ppm: int = 6_000) -> MerchantKey:
    merchant, key = await runtime.payments.merchants.create(
        f"Shop {uuid.uuid4().hex[:6]}", fee_rate_ppm=fee_rate_ppm
    )
    return MerchantKey(merchant.id, {"Authorization": f"Bearer {key.secret_key}"})


async def create_trade(
    client: httpx.AsyncClient, merchant: MerchantKey, amount: int, **fields: Any
) -> dict[str, Any]:
    body = {"out_trade_no": new_key(), "amount": amount, "subject": "teapot", **fields}
    return ok(await client.post("/v1/merchant/trades", json=body, headers=merchant.headers), 201)


async def pay(client: httpx.AsyncClient, buyer: Member, trade_no: str) -> httpx.Response:
    return await client.post(f"/v1/trades/{trade_no}/pay", json={"pin": PIN}, headers=buyer.headers)


async def paid_trade(
    client: httpx.AsyncClient, merchant: MerchantKey, buyer: Member, amount: int, **fields: Any
) -> dict[str, Any]:
    trade = await create_trade(client, merchant, amount, **fields)
    ok(await pay(client, buyer, trade["trade_no"]))
    return ok(
        await client.get(f"/v1/merchant/trades/{trade['trade_no']}", headers=merchant.headers)
    )


async def refund(
    client: httpx.AsyncClient,
    merchant: MerchantKey,
    trade_no: str,
    amount: int,
    *,
    out_request_no: str | None = None,
    key: str | None = None,
) -> httpx.Response:
    body = {"out_request_no": out_request_no or new_key(), "amount": amount}
    return await client.post(
        f"/v1/merchant/trades/{trade_no}/refunds", json=body, headers=merchant.with_key(key)
    )


async def verify_ledger(runtime: Runtime) -> None:
    report = await runtime.ledger.verify()
    assert report.ok, report.breaches
