"""Transfers, receipts, balances and statements over HTTP, under retries and load."""

from __future__ import annotations

import asyncio
import csv
import io
import random
import uuid
from typing import Any

import httpx
import pytest

from tests.identity.support import PIN, Member, member
from zhifu.runtime import Runtime


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


async def send(
    client: httpx.AsyncClient, sender: Member, key: str | None = None, **body: Any
) -> httpx.Response:
    headers = dict(sender.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post("/v1/transfers", json={"pin": PIN, **body}, headers=headers)


async def posted(client: httpx.AsyncClient, owner: Member) -> int:
    balance: int = (await client.get("/v1/balance", headers=owner.headers)).json()["posted"]
    return balance


def new_key() -> str:
    return str(uuid.uuid4())


async def test_transfer_and_receipt(client: httpx.AsyncClient, runtime: Runtime) -> None:
    alice = await member(client, runtime, balance=10_000)
    bob = await member(client, runtime)
    eve = await member(client, runtime)
    sent = await send(client, alice, new_key(), to_phone=bob.phone, amount=1_234, memo="午饭")
    assert sent.status_code == 201, sent.text
    receipt = sent.json()
    assert receipt["from"]["user_id"] == alice.user_id
    assert receipt["to"] == {
        "user_id": bob.user_id,
        "phone": f"{bob.phone[3:6]}****{bob.phone[-4:]}",
    }
    assert (receipt["amount"], receipt["amount_decimal"], receipt["memo"]) == (
        1_234,
        "12.34",
        "午饭",
    )
    for party in (alice, bob):
        again = await client.get(f"/v1/transfers/{receipt['entry_id']}", headers=party.headers)
        assert again.json() == receipt
    refused(
        await client.get(f"/v1/transfers/{receipt['entry_id']}", headers=eve.headers),
        404,
        "not_found",
    )
    refused(await client.get(f"/v1/transfers/{2**63}", headers=eve.headers), 422, "invalid_request")
    assert await posted(client, alice) == 8_766
    assert await posted(client, bob) == 1_234


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
        (2**63 + 1, "invalid_amount"),
        (10**40, "invalid_amount"),
    ],
)
async def test_bad_amounts_are_refused(
    client: httpx.AsyncClient, runtime: Runtime, amount: object, code: str
) -> None:
    alice = await member(client, runtime, tier=0, balance=1_000)
    bob = await member(client, runtime, tier=0)
    refused(await send(client, alice, new_key(), to_user_id=bob.user_id, amount=amount), 422, code)
    assert await posted(client, alice) == 1_000


async def test_bad_requests_are_refused(client: httpx.AsyncClient, runtime: Runtime) -> None:
    alice = await member(client, runtime, tier=0, balance=1_000)
    bob = await member(client, runtime, tier=0)
    to_bob: dict[str, Any] = {"to_user_id": bob.user_id, "amount": 100}
    refused(await send(client, alice, None, **to_bob), 400, "idempotency_key_required")
    refused(await send(client, alice, new_key(), **to_bob, currency="XXX"), 422, "unknown_currency")
    refused(await send(client, alice, new_key(), **to_bob, fee=1), 422, "invalid_request")
    refused(await send(client, alice, new_key(), **to_bob, memo="x" * 141), 422, "invalid_request")
    refused(
        await send(client, alice, new_key(), to_user_id=alice.user_id, amount=1),
        422,
        "self_transfer",
    )
    refused(
        await send(client, alice, new_key(), to_user_id=10**12, amount=1),
        404,
        "recipient_not_found",
    )
    refused(
        await send(client, alice, new_key(), to_phone="13000000001", amount=1),
        404,
        "recipient_not_found",
    )
    refused(await send(client, alice, new_key(), amount=1), 422, "invalid_request")
    refused(
        await send(client, alice, new_key(), **{**to_bob, "amount": 1_001}),
        402,
        "insufficient_funds",
    )
    refused(
        await send(client, alice, new_key(), **{**to_bob, "amount": 50_001}),
        402,
        "insufficient_funds",
    )
    malformed = await client.post(
        "/v1/transfers",
        content=b"{not json",
        headers={**alice.headers, "Idempotency-Key": new_key(), "Content-Type": "application/json"},
    )
    refused(malformed, 400, "malformed_json")
    no_auth = await client.post(
        "/v1/transfers", json={"pin": PIN, **to_bob}, headers={"Idempotency-Key": new_key()}
    )
    refused(no_auth, 401, "unauthorized")
    wrong_pin = await client.post(
        "/v1/transfers",
        json={**to_bob, "pin": "000001"},
        headers={**alice.headers, "Idempotency-Key": new_key()},
    )
    assert refused(wrong_pin, 403, "incorrect_pin")["attempts_left"] == 4
    assert await posted(client, alice) == 1_000


async def test_limits_over_http(client: httpx.AsyncClient, runtime: Runtime) -> None:
    alice = await member(client, runtime, tier=1, balance=1_000_000)
    poor_bob = await member(client, runtime, tier=0)
    body = refused(
        await send(client, alice, new_key(), to_user_id=poor_bob.user_id, amount=100_001),
        422,
        "balance_cap_exceeded",
    )
    assert "cap" not in body
    refused(
        await send(client, alice, new_key(), to_user_id=poor_bob.user_id, amount=500_001),
        422,
        "limit_exceeded",
    )


async def test_concurrent_retries_move_money_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    alice = await member(client, runtime, balance=10_000)
    bob = await member(client, runtime)
    key = new_key()
    responses = await asyncio.gather(
        *[send(client, alice, key, to_user_id=bob.user_id, amount=700) for _ in range(10)]
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["entry_id"] for r in responses}) == 1
    assert await posted(client, bob) == 700
    refused(
        await send(client, alice, key, to_user_id=bob.user_id, amount=701),
        409,
        "idempotency_key_reused",
    )
    retried = await send(client, alice, key, to_user_id=bob.user_id, amount=700)
    assert retried.json() == responses[0].json()
    assert await posted(client, alice) == 9_300


async def test_statement_balance_and_csv(client: httpx.AsyncClient, runtime: Runtime) -> None:
    alice = await member(client, runtime, balance=10_000)
    bob = await member(client, runtime)
    for amount in (100, 200, 300):
        assert (
            await send(
                client, alice, new_key(), to_user_id=bob.user_id, amount=amount, memo=f"m{amount}"
            )
        ).status_code == 201
    first = (await client.get("/v1/statement?limit=2", headers=alice.headers)).json()
    assert [(x["amount"], x["balance_after"], x["memo"]) for x in first["lines"]] == [
        (-300, 9_400, "m300"),
        (-200, 9_700, "m200"),
    ]
    line = first["lines"][0]
    assert (line["direction"], line["amount_decimal"], line["balance_after_decimal"]) == (
        "out",
        "-3.00",
        "94.00",
    )
    assert line["counterparty"]["user_id"] == bob.user_id
    second = (
        await client.get(
            f"/v1/statement?limit=2&before={first['next_before']}", headers=alice.headers
        )
    ).json()
    assert [x["amount"] for x in second["lines"]] == [-100, 10_000]
    last = (
        await client.get(
            f"/v1/statement?limit=2&before={second['next_before']}", headers=alice.headers
        )
    ).json()
    assert last == {"currency": "CNY", "lines": [], "next_before": None}

    exported = await client.get("/v1/statement.csv", headers=alice.headers)
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["amount"] for r in rows] == ["-3.00", "-2.00", "-1.00", "100.00"]

    balance = (await client.get("/v1/balance", headers=alice.headers)).json()
    assert (balance["posted"], balance["available_decimal"]) == (9_400, "94.00")
    as_of = await client.get(
        "/v1/balance/as-of", params={"at": "2000-01-01T00:00:00Z"}, headers=alice.headers
    )
    assert as_of.json()["posted"] == 0
    now = await client.get(
        "/v1/balance/as-of", params={"at": "2999-01-01T00:00:00+08:00"}, headers=alice.headers
    )
    assert now.json()["posted"] == 9_400
    for query, code in (
        ({"at": "2026-01-01T00:00:00"}, "invalid_request"),
        ({"at": "yesterday"}, "invalid_request"),
        ({}, "invalid_request"),
        ({"at": "2026-01-01T00:00:00Z", "currency": "XYZ"}, "unknown_currency"),
    ):
        refused(
            await client.get("/v1/balance/as-of", params=query, headers=alice.headers), 422, code
        )
    for query in ("limit=0", "limit=501", "before=0", f"before={2**63}", "limit=abc"):
        refused(
            await client.get(f"/v1/statement?{query}", headers=alice.headers),
            422,
            "invalid_request",
        )
    refused(
        await client.get("/v1/balance?currency=ABC", headers=alice.headers), 422, "unknown_currency"
    )


async def test_concurrent_clients_conserve_money(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    people = [await member(client, runtime, tier=2, balance=100_000) for _ in range(4)]
    rng = random.Random(7)

    async def worker() -> list[httpx.Response]:
        done = []
        for _ in range(4):
            sender, recipient = rng.sample(people, 2)
            amount = rng.randint(1, 40_000)
            done.append(
                await send(client, sender, new_key(), to_user_id=recipient.user_id, amount=amount)
            )
        return done

    results = [r for batch in await asyncio.gather(*[worker() for _ in range(16)]) for r in batch]
    assert {r.status_code for r in results} <= {201, 402}
    assert sum(r.status_code == 201 for r in results) > len(results) // 2
    balances = [await posted(client, person) for person in people]
    assert sum(balances) == 400_000
    for person, balance in zip(people, balances, strict=True):
        moved = sum(
            r.json()["amount"]
            * (
                (r.json()["to"]["user_id"] == person.user_id)
                - (r.json()["from"]["user_id"] == person.user_id)
            )
            for r in results
            if r.status_code == 201
        )
        assert balance == 100_000 + moved
        assert balance >= 0
    assert (await runtime.ledger.verify()).ok
