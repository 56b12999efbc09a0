"""The merchant REST API end to end over HTTP: the account, trades, refunds in parts and
their races, close and cancel, escrow, disputes, webhooks, and refusals of bad input."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
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
    pay,
    refund,
    refused,
    verify_ledger,
)
from tests.e2e.harness import cli
from tests.events.support import Receiver
from tests.identity.support import Member, member
from zhifu.clock import ManualClock
from zhifu.events import verify_signature
from zhifu.runtime import Runtime


async def balances(client: httpx.AsyncClient, merchant: MerchantKey) -> dict[str, Any]:
    profile = ok(await client.get("/v1/merchant", headers=merchant.headers))
    found: dict[str, Any] = profile["balances"]
    return found


async def wallet(client: httpx.AsyncClient, buyer: Member) -> int:
    posted: int = ok(await client.get("/v1/balance", headers=buyer.headers))["posted"]
    return posted


def trade_url(trade: dict[str, Any], action: str = "") -> str:
    return f"/v1/merchant/trades/{trade['trade_no']}{action}"


# The merchant's account.


async def test_profile_stores_terminals_and_settlement_account(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await onboard(runtime, fee_rate_ppm=5_500)
    profile = ok(await client.get("/v1/merchant", headers=shop.headers))
    assert (profile["id"], profile["fee_rate_ppm"], profile["fee_rate_percent"]) == (
        shop.id,
        5_500,
        "0.55",
    )
    assert profile["balances"] == {
        "currency": "CNY",
        "pending_settlement": 0,
        "pending_settlement_decimal": "0.00",
        "available": 0,
        "available_decimal": "0.00",
    }
    store = ok(
        await client.post("/v1/merchant/stores", json={"name": "Xintiandi"}, headers=shop.headers),
        201,
    )
    terminal = ok(
        await client.post(
            f"/v1/merchant/stores/{store['id']}/terminals",
            json={"label": "till 1"},
            headers=shop.headers,
        ),
        201,
    )
    (listed,) = ok(await client.get("/v1/merchant/stores", headers=shop.headers))["stores"]
    assert (listed["name"], [t["id"] for t in listed["terminals"]]) == (
        "Xintiandi",
        [terminal["id"]],
    )
    number = "6222600260001072444"
    answer = await client.put(
        "/v1/merchant/settlement-account",
        json={"number": number, "bank": "ICBC"},
        headers=shop.headers,
    )
    assert ok(answer)["settlement_account"] == {"last4": "2444", "bank": "ICBC"}
    assert number not in answer.text


async def test_api_keys_are_shown_once_and_revocable(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await onboard(runtime)
    made = ok(await client.post("/v1/merchant/api-keys", headers=shop.headers), 201)
    assert made["secret_key"].startswith(made["prefix"] + "_")
    second = {"Authorization": f"Bearer {made['secret_key']}"}
    listed = ok(await client.get("/v1/merchant/api-keys", headers=second))["api_keys"]
    assert len(listed) == 2 and all("secret_key" not in key for key in listed)
    revoked = await client.delete(f"/v1/merchant/api-keys/{made['id']}", headers=shop.headers)
    assert revoked.status_code == 204
    refused(await client.get("/v1/merchant", headers=second), 401, "unauthorized")
    ok(await client.get("/v1/merchant", headers=shop.headers))


# Trades.


async def test_create_query_and_list_trades(client: httpx.AsyncClient, runtime: Runtime) -> None:
    shop = await onboard(runtime)
    store = ok(
        await client.post("/v1/merchant/stores", json={"name": "Bund"}, headers=shop.headers), 201
    )
    body = {
        "out_trade_no": new_key(),
        "amount": 2_599,
        "subject": "dumplings",
        "store_id": store["id"],
        "timeout_seconds": 600,
        "notify_url": "https://shop.example/notify",
    }
    trade = ok(await client.post("/v1/merchant/trades", json=body, headers=shop.headers), 201)
    assert (trade["state"], trade["amount_decimal"], trade["store_id"]) == (
        "WAIT_BUYER_PAY",
        "25.99",
        store["id"],
    )
    assert (trade["fee"], trade["net_amount"]) == (0, 0)
    again = await client.post("/v1/merchant/trades", json=body, headers=shop.headers)
    assert ok(again, 201)["trade_no"] == trade["trade_no"]
    changed = {**body, "amount": 2_600}
    refused(
        await client.post("/v1/merchant/trades", json=changed, headers=shop.headers),
        409,
        "trade_exists",
    )
    assert ok(await client.get(trade_url(trade), headers=shop.headers)) == trade
    by_order = await client.get(
        "/v1/merchant/trades", params={"out_trade_no": body["out_trade_no"]}, headers=shop.headers
    )
    assert [t["trade_no"] for t in ok(by_order)["trades"]] == [trade["trade_no"]]
    newer = await create_trade(client, shop, 100)
    listed = ok(await client.get("/v1/merchant/trades", headers=shop.headers))["trades"]
    assert [t["trade_no"] for t in listed] == [newer["trade_no"], trade["trade_no"]]
    page = await client.get(
        "/v1/merchant/trades", params={"before": newer["id"], "limit": 5}, headers=shop.headers
    )
    assert [t["trade_no"] for t in ok(page)["trades"]] == [trade["trade_no"]]
    paid = await client.get(
        "/v1/merchant/trades", params={"state": "TRADE_SUCCESS"}, headers=shop.headers
    )
    assert ok(paid)["trades"] == []
    refused(
        await client.get(f"/v1/merchant/trades/{'9' * 24}", headers=shop.headers),
        404,
        "trade_not_found",
    )


async def test_refunds_in_parts_return_the_fee_in_proportion(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await onboard(runtime)
    buyer = await member(client, runtime, tier=3, balance=50_000)
    trade = await paid_trade(client, shop, buyer, 10_000)
    assert (trade["state"], trade["fee"], trade["net_amount"]) == ("TRADE_SUCCESS", 60, 9_940)
    assert (await balances(client, shop))["pending_settlement"] == 9_940

    key, number = new_key(), new_key()
    first = ok(
        await refund(client, shop, trade["trade_no"], 3_000, out_request_no=number, key=key), 201
    )
    assert (first["amount"], first["fee_refund"], first["net_amount"]) == (3_000, 18, 2_982)
    retried = await refund(client, shop, trade["trade_no"], 3_000, out_request_no=number, key=key)
    assert ok(retried, 201) == first
    other_key = await refund(client, shop, trade["trade_no"], 3_000, out_request_no=number)
    assert ok(other_key, 201) == first  # out_request_no decides: no second refund
    refused(
        await refund(client, shop, trade["trade_no"], 2_000, out_request_no=new_key(), key=key),
        409,
        "idempotency_key_reused",
    )
    refused(
        await refund(client, shop, trade["trade_no"], 2_000, out_request_no=number),
        409,
        "refund_exists",
    )
    refused(await refund(client, shop, trade["trade_no"], 7_001), 422, "refund_exceeds_paid")

    second = ok(await refund(client, shop, trade["trade_no"], 7_000), 201)
    assert second["fee_refund"] == 42
    listed = ok(await client.get(trade_url(trade, "/refunds"), headers=shop.headers))["refunds"]
    assert [r["id"] for r in listed] == [first["id"], second["id"]]
    closed = ok(await client.get(trade_url(trade), headers=shop.headers))
    assert (closed["state"], closed["refunded_amount"], closed["net_amount"]) == (
        "TRADE_CLOSED",
        10_000,
        0,
    )
    assert await wallet(client, buyer) == 50_000
    assert (await balances(client, shop))["pending_settlement"] == 0
    await verify_ledger(runtime)


async def test_concurrent_refunds_never_exceed_what_was_paid(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await onboard(runtime)
    buyer = await member(client, runtime, tier=3, balance=20_000)
    trade = await paid_trade(client, shop, buyer, 10_000)
    answers = await asyncio.gather(
        *(refund(client, shop, trade["trade_no"], 1_500) for _ in range(12))
    )
    done = [answer.json() for answer in answers if answer.status_code == 201]
    assert len(done) == 6  # 6 x 1,500 = 9,000; a seventh would exceed 10,000
    for answer in answers:
        if answer.status_code != 201:
            refused(answer, 422, "refund_exceeds_paid")
    assert sum(r["fee_refund"] for r in done) == 54
    same_key = new_key()
    retries = await asyncio.gather(
        *(
            refund(client, shop, trade["trade_no"], 1_000, key=same_key, out_request_no="last")
            for _ in range(6)
        )
    )
    assert {ok(answer, 201)["id"] for answer in retries} == {retries[0].json()["id"]}
    final = ok(await client.get(trade_url(trade), headers=shop.headers))
    assert (final["state"], final["refunded_amount"]) == ("TRADE_CLOSED", 10_000)
    assert await wallet(client, buyer) == 20_000
    await verify_ledger(runtime)


async def test_close_and_cancel(client: httpx.AsyncClient, runtime: Runtime) -> None:
    shop = await onboard(runtime)
    buyer = await member(client, runtime, tier=3, balance=10_000)
    unpaid = await create_trade(client, shop, 500)
    closed = ok(await client.post(trade_url(unpaid, "/close"), headers=shop.headers))
    assert (closed["state"], closed["close_reason"]) == ("TRADE_CLOSED", "closed by the merchant")
    refused(await pay(client, buyer, unpaid["trade_no"]), 409, "trade_closed")
    refused(
        await client.post(trade_url(unpaid, "/close"), headers=shop.headers),
        409,
        "invalid_state_transition",
    )

    waiting = await create_trade(client, shop, 700)
    refused(
        await client.post(trade_url(waiting, "/cancel"), headers=shop.headers),
        400,
        "idempotency_key_required",
    )
    cancelled = ok(await client.post(trade_url(waiting, "/cancel"), headers=shop.with_key()))
    assert (cancelled["state"], cancelled["refunded_amount"]) == ("TRADE_CLOSED", 0)

    paid = await paid_trade(client, shop, buyer, 3_000)
    key = new_key()
    first = ok(await client.post(trade_url(paid, "/cancel"), headers=shop.with_key(key)))
    again = ok(await client.post(trade_url(paid, "/cancel"), headers=shop.with_key(key)))
    assert first == again
    assert (first["state"], first["refunded_amount"], first["close_reason"]) == (
        "TRADE_CLOSED",
        3_000,
        "refunded",
    )
    refused(
        await client.post(trade_url(waiting, "/cancel"), headers=shop.with_key(key)),
        409,
        "idempotency_key_reused",
    )
    assert await wallet(client, buyer) == 10_000
    await verify_ledger(runtime)


# Escrow and disputes.


async def test_escrow_ship_confirm_over_http(client: httpx.AsyncClient, runtime: Runtime) -> None:
    shop = await onboard(runtime)
    buyer = await member(client, runtime, tier=3, balance=10_000)
    trade = await paid_trade(client, shop, buyer, 4_000, escrow=True)
    assert trade["escrow_state"] == "PAID"
    assert (await balances(client, shop))["pending_settlement"] == 0
    refused(await refund(client, shop, trade["trade_no"], 100), 422, "invalid_request")
    shipped = ok(await client.post(trade_url(trade, "/ship"), headers=shop.headers))
    assert shipped["escrow_state"] == "SHIPPED"
    confirm = f"/v1/trades/{trade['trade_no']}/confirm-receipt"
    refused(await client.post(confirm, headers=buyer.headers), 400, "idempotency_key_required")
    key = {**buyer.headers, "Idempotency-Key": new_key()}
    confirmed = ok(await client.post(confirm, headers=key))
    assert ok(await client.post(confirm, headers=key)) == confirmed
    assert "fee" not in confirmed and confirmed["escrow_state"] == "CONFIRMED"
    refused(
        await client.post(confirm, headers={**key, "Idempotency-Key": new_key()}),
        409,
        "invalid_state_transition",
    )
    assert (await balances(client, shop))["pending_settlement"] == 4_000 - 24
    assert await wallet(client, buyer) == 6_000
    await verify_ledger(runtime)


async def ask_refund(
    client: httpx.AsyncClient, shop: MerchantKey, buyer: Member, agree: bool
) -> dict[str, Any]:
    trade = await paid_trade(client, shop, buyer, 2_000, escrow=True)
    asked = await client.post(
        f"/v1/trades/{trade['trade_no']}/refund-request", headers=buyer.headers
    )
    assert ok(asked)["escrow_state"] == "REFUND_REQUESTED"
    answer = await client.post(
        trade_url(trade, "/refund-request/answer"), json={"agree": agree}, headers=shop.with_key()
    )
    return ok(answer)


async def test_escrow_refund_request_agreed_or_disputed(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await onboard(runtime)
    buyer = await member(client, runtime, tier=3, balance=10_000)
    agreed = await ask_refund(client, shop, buyer, agree=True)
    assert (agreed["state"], agreed["escrow_state"], agreed["net_amount"]) == (
        "TRADE_CLOSED",
        "REFUNDED",
        0,
    )
    assert await wallet(client, buyer) == 10_000

    for winner, escrow_state, buyer_balance in (
        ("buyer", "REFUNDED", 10_000),
        ("seller", "CONFIRMED", 8_000),
    ):
        disputed = await ask_refund(client, shop, buyer, agree=False)
        assert disputed["escrow_state"] == "DISPUTED"
        ruled = await asyncio.to_thread(
            cli,
            "dispute",
            "decide",
            disputed["trade_no"],
            "--for",
            winner,
            database_url=runtime.settings.db.database_url,
        )
        assert (ruled["trade_no"], ruled["escrow_state"]) == (disputed["trade_no"], escrow_state)
        assert await wallet(client, buyer) == buyer_balance
    await verify_ledger(runtime)


# Paying closed and expired trades, on a clock the test moves.


async def test_paying_an_expired_trade_is_refused(
    timed: tuple[Runtime, httpx.AsyncClient],
) -> None:
    runtime, client = timed
    assert isinstance(runtime.clock, ManualClock)
    shop = await onboard(runtime)
    buyer = await member(client, runtime, tier=3, balance=10_000)
    trade = await create_trade(client, shop, 800, timeout_seconds=60)
    runtime.clock.advance(timedelta(seconds=61))
    refused(await pay(client, buyer, trade["trade_no"]), 409, "trade_expired")
    await runtime.payments.lifecycle.expire_due()
    closed = ok(await client.get(trade_url(trade), headers=shop.headers))
    assert (closed["state"], closed["close_reason"]) == ("TRADE_CLOSED", "expired")
    refused(await pay(client, buyer, trade["trade_no"]), 409, "trade_closed")
    assert await wallet(client, buyer) == 10_000
    await verify_ledger(runtime)


# Webhooks, with the dispatcher run in-process.


async def test_webhook_endpoint_secret_deliveries_and_resend(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await onboard(runtime)
    buyer = await member(client, runtime, tier=3, balance=10_000)
    url = "/v1/merchant/webhook"
    refused(await client.get(url, headers=shop.headers), 404, "not_found")
    receiver = Receiver().start()
    try:
        body = {"url": receiver.url, "event_types": ["trade.paid", "trade.refunded"]}
        created = ok(await client.put(url, json=body, headers=shop.headers))
        secret = created["secret"]
        assert secret.startswith("whsec_")
        kept = ok(await client.put(url, json=body, headers=shop.headers))
        assert "secret" not in kept and ok(await client.get(url, headers=shop.headers)) == kept
        receiver.script([500])
        trade = await paid_trade(client, shop, buyer, 1_000)
        await runtime.webhooks.deliver_due()
        (delivery,) = ok(await client.get(f"{url}/deliveries", headers=shop.headers))["deliveries"]
        assert (delivery["state"], delivery["attempts"], delivery["event_type"]) == (
            "pending",
            1,
            "trade.paid",
        )
        (attempt,) = delivery["attempt_log"]
        assert (attempt["attempt_no"], attempt["status_code"]) == (1, 500)
        resent = ok(
            await client.post(f"{url}/deliveries/{delivery['id']}/resend", headers=shop.headers),
            201,
        )
        assert resent["event_id"] == delivery["event_id"]
        await runtime.webhooks.deliver_due()
        first, second = receiver.received
        assert first.event_id == second.event_id == delivery["event_id"]
        for request in receiver.received:
            verify_signature(
                secret, request.headers["Zhifu-Signature"], request.body, runtime.clock.now()
            )
        assert json.loads(second.body)["data"]["trade_no"] == trade["trade_no"]
        succeeded = await client.get(
            f"{url}/deliveries", params={"state": "succeeded"}, headers=shop.headers
        )
        assert [d["id"] for d in ok(succeeded)["deliveries"]] == [resent["id"]]
        rotated = ok(
            await client.put(url, json={**body, "rotate_secret": True}, headers=shop.headers)
        )
        assert rotated["secret"] not in (None, secret)
    finally:
        receiver.stop()
    refused(
        await client.put(
            url, json={"url": receiver.url, "event_types": ["trade.payed"]}, headers=shop.headers
        ),
        422,
        "unknown_event_type",
    )


# Refusals of bad input, each with its stable code.


@pytest.mark.parametrize(
    "target", ["http://10.0.0.7/hook", "http://[fd00::1]/", "http://metadata.google.internal/"]
)
async def test_internal_webhook_targets_are_refused(
    client: httpx.AsyncClient, runtime: Runtime, target: str
) -> None:
    shop = await onboard(runtime)
    put = await client.put("/v1/merchant/webhook", json={"url": target}, headers=shop.headers)
    refused(put, 422, "unsafe_destination")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"amount": 0}, "invalid_amount"),
        ({"amount": -100}, "invalid_amount"),
        ({"amount": 12.5}, "invalid_amount"),
        ({"amount": "100"}, "invalid_amount"),
        ({"amount": True}, "invalid_amount"),
        ({"amount": 10**16}, "invalid_amount"),
        ({"amount": 10**30}, "invalid_amount"),
        ({"currency": "XYZ"}, "unknown_currency"),
        ({"currency": "cny"}, "unknown_currency"),
        ({"timeout_seconds": 30}, "invalid_request"),
        ({"escrow": "yes"}, "invalid_request"),
        ({"notify_url": "ftp://shop.example"}, "invalid_request"),
        ({"notify_url": "http://169.254.169.254/latest"}, "unsafe_destination"),
        ({"notify_url": "http://2852039166/"}, "unsafe_destination"),
        ({"surprise": 1}, "invalid_request"),
        ({"out_trade_no": ""}, "invalid_request"),
    ],
)
async def test_bad_trades_are_refused(
    client: httpx.AsyncClient, runtime: Runtime, change: dict[str, Any], code: str
) -> None:
    shop = await onboard(runtime)
    body = {"out_trade_no": new_key(), "amount": 100, "subject": "tea", **change}
    refused(await client.post("/v1/merchant/trades", json=body, headers=shop.headers), 422, code)


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        (0, "invalid_amount"),
        (-1, "invalid_amount"),
        (0.5, "invalid_amount"),
        (10**16, "invalid_amount"),
    ],
)
async def test_bad_refunds_are_refused(
    client: httpx.AsyncClient, runtime: Runtime, amount: Any, code: str
) -> None:
    shop = await onboard(runtime)
    buyer = await member(client, runtime, tier=3, balance=1_000)
    trade = await paid_trade(client, shop, buyer, 1_000)
    refused(await refund(client, shop, trade["trade_no"], amount), 422, code)


async def test_calls_without_a_key_or_with_a_broken_body_are_refused(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await onboard(runtime)
    buyer = await member(client, runtime, tier=3, balance=1_000)
    trade = await paid_trade(client, shop, buyer, 1_000)
    path = trade_url(trade, "/refunds")
    body = {"out_request_no": "r1", "amount": 100}
    refused(
        await client.post(path, json=body, headers=shop.headers), 400, "idempotency_key_required"
    )
    refused(
        await client.post(
            path,
            content=b'{"out_request_no": "r1", "amount": ',
            headers={**shop.with_key(), "Content-Type": "application/json"},
        ),
        400,
        "malformed_json",
    )
    refused(await client.get("/v1/merchant/trades"), 401, "unauthorized")
    wrong = {"Authorization": "Bearer sk_0123456789abcdef_not-the-secret"}
    refused(await client.get("/v1/merchant/trades", headers=wrong), 401, "unauthorized")
    refused(await client.get("/v1/merchant", headers=buyer.headers), 401, "unauthorized")
    refused(
        await client.get("/v1/merchant/trades/abc", headers=shop.headers), 422, "invalid_request"
    )
    refused(
        await client.get("/v1/merchant", params={"currency": "XYZ"}, headers=shop.headers),
        422,
        "unknown_currency",
    )
    refused(
        await client.post(path, json=body, headers={**shop.headers, "Idempotency-Key": "x" * 300}),
        422,
        "invalid_request",
    )
