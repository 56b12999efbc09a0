"""Top-ups, withdrawals and funding orders over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.funding.support import card_number
from tests.identity.support import PIN, Member, member
from zhifu.runtime import Runtime


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


async def link(client: httpx.AsyncClient, owner: Member, last4: str = "1111") -> int:
    linked = await client.post(
        "/v1/cards", json={"number": card_number(last4)}, headers=owner.headers
    )
    assert linked.status_code == 201, linked.text
    card_id: int = linked.json()["id"]
    return card_id


async def post(
    client: httpx.AsyncClient, path: str, owner: Member, key: str | None = "new", **body: Any
) -> httpx.Response:
    headers = dict(owner.headers)
    if key is not None:
        headers["Idempotency-Key"] = str(uuid.uuid4()) if key == "new" else key
    return await client.post(path, json=body, headers=headers)


async def posted(client: httpx.AsyncClient, owner: Member) -> int:
    balance: int = (await client.get("/v1/balance", headers=owner.headers)).json()["posted"]
    return balance


async def test_topup_and_withdrawal(client: httpx.AsyncClient, runtime: Runtime) -> None:
    alice = await member(client, runtime)
    card_id = await link(client, alice)
    topup = await post(client, "/v1/topups", alice, card_id=card_id, amount=10_000)
    assert topup.status_code == 201, topup.text
    order = topup.json()
    assert order["kind"] == "topup" and order["state"] == "succeeded"
    assert (order["amount"], order["amount_decimal"], order["currency"]) == (
        10_000,
        "100.00",
        "CNY",
    )
    assert order["reference"] == f"fo_{order['id']}" and order["bank_reference"]
    withdrawal = await post(
        client, "/v1/withdrawals", alice, card_id=card_id, amount=2_500, pin=PIN
    )
    assert withdrawal.status_code == 201, withdrawal.text
    assert withdrawal.json()["state"] == "succeeded"
    assert await posted(client, alice) == 7_500
    fetched = await client.get(f"/v1/funding-orders/{order['id']}", headers=alice.headers)
    assert fetched.json() == order
    listed = await client.get("/v1/funding-orders", headers=alice.headers)
    assert [o["id"] for o in listed.json()["funding_orders"]] == [
        withdrawal.json()["id"],
        order["id"],
    ]
    page = await client.get(
        "/v1/funding-orders",
        params={"limit": 1, "before": withdrawal.json()["id"]},
        headers=alice.headers,
    )
    assert [o["id"] for o in page.json()["funding_orders"]] == [order["id"]]
    assert (await runtime.ledger.verify()).ok


async def test_a_declined_topup_is_a_failed_order(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    bob = await member(client, runtime)
    card_id = await link(client, bob, "0002")
    declined = await post(client, "/v1/topups", bob, card_id=card_id, amount=500)
    assert declined.status_code == 201, declined.text
    assert (declined.json()["state"], declined.json()["failure_code"]) == (
        "failed",
        "insufficient_funds",
    )
    assert await posted(client, bob) == 0


async def test_a_bank_timeout_answers_202_pending(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    carol = await member(client, runtime)
    card_id = await link(client, carol, "0004")
    key = str(uuid.uuid4())
    pending = await post(client, "/v1/topups", carol, key, card_id=card_id, amount=800)
    assert pending.status_code == 202, pending.text
    assert pending.json()["state"] == "pending" and pending.json()["completed_at"] is None
    again = await post(client, "/v1/topups", carol, key, card_id=card_id, amount=800)
    assert (again.status_code, again.json()) == (202, pending.json())


async def test_a_retry_replays_and_a_reused_key_is_refused(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    dave = await member(client, runtime)
    card_id = await link(client, dave)
    key = str(uuid.uuid4())
    first = await post(client, "/v1/topups", dave, key, card_id=card_id, amount=1_000)
    again = await post(client, "/v1/topups", dave, key, card_id=card_id, amount=1_000)
    assert (again.status_code, again.json()) == (201, first.json())
    refused(
        await post(client, "/v1/topups", dave, key, card_id=card_id, amount=1_001),
        409,
        "idempotency_key_reused",
    )
    assert await posted(client, dave) == 1_000


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        (0, "invalid_amount"),
        (-100, "invalid_amount"),
        (1.5, "invalid_amount"),
        (100.0, "invalid_amount"),
        ("100", "invalid_amount"),
        (True, "invalid_amount"),
        (None, "invalid_amount"),
        (10**16, "invalid_amount"),
        (10**30, "invalid_amount"),
    ],
)
async def test_bad_amounts_are_refused(
    client: httpx.AsyncClient, runtime: Runtime, amount: Any, code: str
) -> None:
    erin = await member(client, runtime)
    card_id = await link(client, erin)
    for path, extra in (("/v1/topups", {}), ("/v1/withdrawals", {"pin": PIN})):
        refused(await post(client, path, erin, card_id=card_id, amount=amount, **extra), 422, code)


async def test_bad_requests_get_stable_codes(client: httpx.AsyncClient, runtime: Runtime) -> None:
    frank, grace = await member(client, runtime), await member(client, runtime, balance=5_000)
    card_id = await link(client, frank)
    theirs = await link(client, grace)
    topups, withdrawals = "/v1/topups", "/v1/withdrawals"
    refused(
        await post(client, topups, frank, None, card_id=card_id, amount=100),
        400,
        "idempotency_key_required",
    )
    refused(await post(client, topups, frank, card_id=theirs, amount=100), 404, "not_found")
    refused(
        await post(client, topups, frank, card_id=card_id, amount=100, currency="XXX"),
        422,
        "unknown_currency",
    )
    refused(
        await post(client, topups, frank, card_id=card_id, amount=100, memo="hi"),
        422,
        "invalid_request",
    )
    refused(await post(client, topups, frank, card_id=2**63, amount=100), 422, "invalid_request")
    refused(await post(client, topups, frank, card_id="1", amount=100), 422, "invalid_request")
    refused(
        await post(
            client, topups, frank, card_id=card_id, amount=5_000_001
        ),  # tier 1 cap: 50,000.00
        422,
        "balance_cap_exceeded",
    )
    refused(
        await post(client, withdrawals, frank, card_id=card_id, amount=100, pin="000000"),
        403,
        "incorrect_pin",
    )
    refused(
        await post(client, withdrawals, frank, card_id=card_id, amount=100, pin=PIN),
        402,
        "insufficient_funds",
    )
    refused(
        await post(client, withdrawals, frank, card_id=card_id, amount=100),
        422,
        "invalid_request",
    )
    anonymous = await client.post("/v1/topups", json={"card_id": card_id, "amount": 100})
    refused(anonymous, 401, "unauthorized")


async def test_orders_are_private(client: httpx.AsyncClient, runtime: Runtime) -> None:
    heidi, ivan = await member(client, runtime), await member(client, runtime)
    card_id = await link(client, heidi)
    order = (await post(client, "/v1/topups", heidi, card_id=card_id, amount=100)).json()
    refused(
        await client.get(f"/v1/funding-orders/{order['id']}", headers=ivan.headers),
        404,
        "not_found",
    )
    refused(await client.get("/v1/funding-orders/0", headers=ivan.headers), 422, "invalid_request")
    listed = await client.get("/v1/funding-orders", headers=ivan.headers)
    assert listed.json() == {"funding_orders": []}
    refused(
        await client.get("/v1/funding-orders", params={"limit": 0}, headers=ivan.headers),
        422,
        "invalid_request",
    )
