"""A refusal tells the client what it can act on, in the identifiers it knows (its trade,
its currency, its own balance), never the ledger's internal account ids."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from tests.api.merchants import MerchantKey, create_trade, onboard, pay, refused
from tests.funding.support import card_number
from tests.identity.support import member
from zhifu.runtime import Runtime

PROBLEM = {"type", "title", "status", "detail", "code", "instance", "request_id"}


def names_no_account(body: dict[str, Any], *public: str) -> None:
    assert set(body) == PROBLEM | set(public), body
    assert not re.search(r"\d", body["detail"]), body


async def test_a_refused_payment_names_no_ledger_account(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop, buyer = await onboard(runtime), await member(client, runtime, tier=0, balance=100)
    trade = await create_trade(client, shop, 10_000)
    body = refused(await pay(client, buyer, trade["trade_no"]), 402, "insufficient_funds")
    names_no_account(body, "available")
    assert body["available"] == 100  # the buyer's own balance

    merchant, key = await runtime.payments.merchants.create("Sandbox shop", sandbox=True)
    sandbox = MerchantKey(merchant.id, {"Authorization": f"Bearer {key.secret_key}"})
    trade = await create_trade(client, sandbox, 50)
    body = refused(await pay(client, buyer, trade["trade_no"]), 422, "sandbox_mismatch")
    names_no_account(body)


async def test_a_refused_top_up_names_no_ledger_account(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    buyer = await member(client, runtime, tier=0)
    card = await client.post(
        "/v1/cards", json={"number": card_number("1111")}, headers=buyer.headers
    )
    body = {"card_id": card.json()["id"], "amount": 100_001}
    headers = {**buyer.headers, "Idempotency-Key": str(uuid.uuid4())}
    problem = refused(
        await client.post("/v1/topups", json=body, headers=headers), 422, "balance_cap_exceeded"
    )
    names_no_account(problem, "cap")
