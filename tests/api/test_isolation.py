"""A merchant never sees nor touches another merchant's trades, stores, keys or
deliveries; a consumer only their own trades. Every endpoint is tried with the wrong
principal: a 404 (as if the thing did not exist) or a 401, always problem+json, and
nothing changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.api.merchants import (
    MerchantKey,
    create_trade,
    new_key,
    ok,
    onboard,
    paid_trade,
    refused,
    verify_ledger,
)
from tests.events.support import Receiver
from tests.identity.support import Member, member
from zhifu.runtime import Runtime


@dataclass(frozen=True)
class Victim:
    """Merchant A's things and the buyer of its trades."""

    merchant: MerchantKey
    buyer: Member
    trade: dict[str, Any]  # paid
    unpaid: dict[str, Any]
    escrow: dict[str, Any]  # paid into escrow
    store_id: int
    terminal_id: int
    key_id: int
    delivery_id: int

    def paths(self) -> dict[str, str]:
        return {
            "trade": self.trade["trade_no"],
            "unpaid": self.unpaid["trade_no"],
            "escrow": self.escrow["trade_no"],
            "store": str(self.store_id),
            "key": str(self.key_id),
            "delivery": str(self.delivery_id),
        }


async def make_victim(client: httpx.AsyncClient, runtime: Runtime) -> Victim:
    shop = await onboard(runtime)
    buyer = await member(client, runtime, tier=3, balance=20_000)
    receiver = Receiver().start()
    try:
        webhook = {"url": receiver.url}
        ok(await client.put("/v1/merchant/webhook", json=webhook, headers=shop.headers))
        trade = await paid_trade(client, shop, buyer, 5_000)
        await runtime.webhooks.deliver_due()
    finally:
        receiver.stop()
    deliveries = await client.get("/v1/merchant/webhook/deliveries", headers=shop.headers)
    store = await client.post("/v1/merchant/stores", json={"name": "A"}, headers=shop.headers)
    store_id = ok(store, 201)["id"]
    terminal = await client.post(
        f"/v1/merchant/stores/{store_id}/terminals", json={"label": "t"}, headers=shop.headers
    )
    key = await client.post("/v1/merchant/api-keys", headers=shop.headers)
    return Victim(
        merchant=shop,
        buyer=buyer,
        trade=trade,
        unpaid=await create_trade(client, shop, 300),
        escrow=await paid_trade(client, shop, buyer, 2_000, escrow=True),
        store_id=store_id,
        terminal_id=ok(terminal, 201)["id"],
        key_id=ok(key, 201)["id"],
        delivery_id=ok(deliveries)["deliveries"][0]["id"],
    )


@pytest.fixture(scope="module")
async def victim(client: httpx.AsyncClient, runtime: Runtime) -> Victim:
    return await make_victim(client, runtime)


@pytest.fixture(scope="module")
async def intruder(runtime: Runtime) -> MerchantKey:
    return await onboard(runtime)


@pytest.fixture(scope="module")
async def stranger(client: httpx.AsyncClient, runtime: Runtime) -> Member:
    return await member(client, runtime, tier=3, balance=20_000)


REFUND = {"out_request_no": "r1", "amount": 100}

# (method, path, body): every merchant endpoint that names one of merchant A's things.
MERCHANT_CALLS = [
    ("GET", "/v1/merchant/trades/{trade}", None),
    ("POST", "/v1/merchant/trades/{trade}/refunds", REFUND),
    ("GET", "/v1/merchant/trades/{trade}/refunds", None),
    ("POST", "/v1/merchant/trades/{unpaid}/close", None),
    ("POST", "/v1/merchant/trades/{unpaid}/cancel", None),
    ("POST", "/v1/merchant/trades/{trade}/cancel", None),
    ("POST", "/v1/merchant/trades/{escrow}/ship", None),
    ("POST", "/v1/merchant/trades/{escrow}/refund-request/answer", {"agree": True}),
    ("POST", "/v1/merchant/stores/{store}/terminals", {"label": "mine now"}),
    ("DELETE", "/v1/merchant/api-keys/{key}", None),
    ("POST", "/v1/merchant/webhook/deliveries/{delivery}/resend", None),
]

# Every consumer endpoint that names a trade: the buyer's, tried by another consumer.
CONSUMER_CALLS = [
    ("GET", "/v1/trades/{trade}", None),
    ("POST", "/v1/trades/{escrow}/confirm-receipt", None),
    ("POST", "/v1/trades/{escrow}/refund-request", None),
]


async def call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    body: Any,
    headers: dict[str, str],
    victim: Victim,
) -> httpx.Response:
    headers = {**headers, "Idempotency-Key": new_key()}
    url = path.format(**victim.paths())
    return await client.request(method, url, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body"), MERCHANT_CALLS)
async def test_a_merchant_cannot_touch_another_merchants_things(
    client: httpx.AsyncClient,
    victim: Victim,
    intruder: MerchantKey,
    method: str,
    path: str,
    body: Any,
) -> None:
    answer = await call(client, method, path, body, intruder.headers, victim)
    assert answer.status_code == 404, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] in ("trade_not_found", "not_found")


@pytest.mark.parametrize(("method", "path", "body"), MERCHANT_CALLS + CONSUMER_CALLS)
async def test_a_consumer_is_not_a_merchant_and_a_merchant_not_a_consumer(
    client: httpx.AsyncClient,
    victim: Victim,
    stranger: Member,
    method: str,
    path: str,
    body: Any,
) -> None:
    wrong_kind = victim.merchant.headers if path.startswith("/v1/trades") else stranger.headers
    answer = await call(client, method, path, body, wrong_kind, victim)
    refused(answer, 401, "unauthorized")


@pytest.mark.parametrize(("method", "path", "body"), CONSUMER_CALLS)
async def test_a_consumer_cannot_touch_another_consumers_trades(
    client: httpx.AsyncClient,
    victim: Victim,
    stranger: Member,
    method: str,
    path: str,
    body: Any,
) -> None:
    answer = await call(client, method, path, body, stranger.headers, victim)
    assert answer.status_code == 404, answer.text
    assert answer.json()["code"] in ("trade_not_found", "not_found")


async def test_nothing_of_another_merchant_shows_in_lists_or_can_be_referenced(
    client: httpx.AsyncClient, runtime: Runtime, victim: Victim, intruder: MerchantKey
) -> None:
    headers = intruder.headers
    by_order = {"out_trade_no": victim.trade["out_trade_no"]}
    for params in (by_order, {}):
        found = await client.get("/v1/merchant/trades", params=params, headers=headers)
        assert victim.trade["trade_no"] not in {t["trade_no"] for t in ok(found)["trades"]}
    assert ok(await client.get("/v1/merchant/stores", headers=headers))["stores"] == []
    deliveries = await client.get("/v1/merchant/webhook/deliveries", headers=headers)
    assert ok(deliveries)["deliveries"] == []
    keys = ok(await client.get("/v1/merchant/api-keys", headers=headers))["api_keys"]
    assert victim.key_id not in {key["id"] for key in keys}
    for reference in ({"store_id": victim.store_id}, {"terminal_id": victim.terminal_id}):
        body = {"out_trade_no": new_key(), "amount": 100, "subject": "x", **reference}
        answer = await client.post("/v1/merchant/trades", json=body, headers=headers)
        refused(answer, 404, "not_found")
    # The same out_trade_no is another merchant's own, independent trade.
    same_order = {"out_trade_no": victim.trade["out_trade_no"], "amount": 1, "subject": "x"}
    mine = ok(await client.post("/v1/merchant/trades", json=same_order, headers=headers), 201)
    assert mine["trade_no"] != victim.trade["trade_no"]


async def test_after_every_intrusion_the_victims_things_are_unchanged(
    client: httpx.AsyncClient, runtime: Runtime, victim: Victim
) -> None:
    headers = victim.merchant.headers
    for before in (victim.trade, victim.unpaid, victim.escrow):
        now = ok(await client.get(f"/v1/merchant/trades/{before['trade_no']}", headers=headers))
        assert (now["state"], now["escrow_state"], now["refunded_amount"]) == (
            before["state"],
            before["escrow_state"],
            before["refunded_amount"],
        )
    keys = ok(await client.get("/v1/merchant/api-keys", headers=headers))["api_keys"]
    assert all(key["revoked_at"] is None for key in keys)
    await verify_ledger(runtime)
