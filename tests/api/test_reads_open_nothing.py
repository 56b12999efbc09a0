"""A GET never creates anything: reading a wallet or a merchant balance in a currency
never held opens no ledger account and reads as zero."""

from __future__ import annotations

import httpx

from tests.api.merchants import ok, onboard, refused
from tests.identity.support import member
from zhifu.runtime import Runtime


async def accounts_of(runtime: Runtime, prefix: str) -> list[str]:
    rows = await runtime.db.fetch_all(
        "select code from ledger_account where code like %s order by code", (prefix + "%",)
    )
    return [row["code"] for row in rows]


async def test_reading_a_wallet_in_a_new_currency_opens_nothing(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    alice = await member(client, runtime, tier=0)
    mine = f"user:{alice.user_id}:"
    before = await accounts_of(runtime, mine)
    assert before == [f"user:{alice.user_id}:wallet:CNY"]

    euros = ok(await client.get("/v1/balance?currency=EUR", headers=alice.headers))
    assert (euros["currency"], euros["posted"], euros["available"]) == ("EUR", 0, 0)
    at = {"at": "2026-01-01T00:00:00Z", "currency": "USD"}
    past = ok(await client.get("/v1/balance/as-of", params=at, headers=alice.headers))
    assert past["posted"] == 0
    lines = ok(await client.get("/v1/statement?currency=JPY", headers=alice.headers))
    assert lines["lines"] == [] and lines["next_before"] is None
    csv = await client.get("/v1/statement.csv?currency=HKD", headers=alice.headers)
    assert csv.status_code == 200 and len(csv.text.strip().splitlines()) == 1  # the heading
    me = ok(await client.get("/v1/me", headers=alice.headers))
    assert [balance["currency"] for balance in me["balances"]] == ["CNY"]
    refused(
        await client.get("/v1/balance?currency=ABC", headers=alice.headers),
        422,
        "unknown_currency",
    )

    assert await accounts_of(runtime, mine) == before


async def test_reading_a_merchant_in_a_new_currency_opens_nothing(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await onboard(runtime)
    mine = f"merchant:{shop.id}:"
    before = await accounts_of(runtime, mine)
    assert len(before) == 2  # pending and available in CNY, opened with the merchant

    profile = ok(await client.get("/v1/merchant?currency=USD", headers=shop.headers))
    assert profile["balances"] == {
        "currency": "USD",
        "pending_settlement": 0,
        "pending_settlement_decimal": "0.00",
        "available": 0,
        "available_decimal": "0.00",
    }
    refused(
        await client.get("/v1/merchant?currency=XYZ", headers=shop.headers),
        422,
        "unknown_currency",
    )

    assert await accounts_of(runtime, mine) == before
