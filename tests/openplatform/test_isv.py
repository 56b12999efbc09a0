"""Service providers (ISV) acting for merchants: a merchant grants an app_auth_code over
the REST API, the ISV exchanges it at the gateway for an app_auth_token and calls the
trade methods for that merchant with it; refresh, revocation and every refusal."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import settings_for
from tests.openplatform.alipay_client import AlipayTestClient
from tests.openplatform.conftest import app_client
from tests.openplatform.test_gateway import assert_refused, order
from tests.payments.conftest import PIN, Shop
from zhifu.api.app import create_app
from zhifu.clock import ManualClock
from zhifu.merchants import Merchant
from zhifu.runtime import Runtime

TOKEN_APP = "alipay.open.auth.token.app"
TOKEN_QUERY = "alipay.open.auth.token.app.query"


@dataclass
class Seller:
    """A merchant that signs in to the REST API with its secret key."""

    merchant: Merchant
    secret_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret_key}"}

    async def grant(self, http: httpx.AsyncClient, app_id: str) -> str:
        made = await http.post(
            "/v1/merchant/app-authorisations", json={"app_id": app_id}, headers=self.headers
        )
        assert made.status_code == 201, made.text
        assert made.json()["app_id"] == app_id and made.json()["expires_at"]
        code: str = made.json()["app_auth_code"]
        return code

    async def revoke(self, http: httpx.AsyncClient, app_id: str) -> httpx.Response:
        return await http.delete(f"/v1/merchant/app-authorisations/{app_id}", headers=self.headers)

    async def authorisations(self, http: httpx.AsyncClient) -> list[dict[str, Any]]:
        listed = await http.get("/v1/merchant/app-authorisations", headers=self.headers)
        assert listed.status_code == 200, listed.text
        found: list[dict[str, Any]] = listed.json()["app_authorisations"]
        return found


async def new_seller(runtime: Runtime) -> Seller:
    merchant, key = await runtime.payments.merchants.create(f"Shop {uuid.uuid4().hex[:6]}")
    assert key.secret_key is not None
    return Seller(merchant, key.secret_key)


def alipay_user_id(merchant: Merchant) -> str:
    return f"2088{merchant.id:012d}"


async def exchange(isv: AlipayTestClient, code: str, **common: str) -> dict[str, Any]:
    biz = {"grant_type": "authorization_code", "code": code}
    return await isv.call(TOKEN_APP, biz, **common)


@pytest.fixture
async def isv(runtime: Runtime, client: httpx.AsyncClient, shop: Shop) -> AlipayTestClient:
    """A service provider's app (its own merchant is the provider, not the sellers)."""
    provider = await shop.merchant()
    return await app_client(runtime, client, provider.id, isv=True)


async def test_an_isv_trades_for_the_merchant_who_authorised_it(
    runtime: Runtime, client: httpx.AsyncClient, shop: Shop, isv: AlipayTestClient
) -> None:
    seller = await new_seller(runtime)
    code = await seller.grant(client, isv.app_id)
    issued = await exchange(isv, code)
    assert issued["code"] == "10000" and "sub_code" not in issued
    token = issued["app_auth_token"]
    assert issued["user_id"] == alipay_user_id(seller.merchant)
    assert issued["auth_app_id"] == isv.app_id  # the seller has no app of its own
    assert (issued["expires_in"], issued["re_expires_in"]) == (31536000, 32140800)
    assert issued["tokens"] == [
        {k: v for k, v in issued.items() if k not in ("code", "msg", "tokens")}
    ]
    assert_refused(await exchange(isv, code), "40002", "isv.code-invalid")

    asked = order("25.00")
    made = await isv.call("alipay.trade.precreate", asked, app_auth_token=token)
    assert made["code"] == "10000", made
    ref = {"out_trade_no": asked["out_trade_no"]}
    trade = await runtime.payments.trades.get(seller.merchant.id, **ref)
    assert trade.amount == 2500
    found = await isv.call("alipay.trade.query", ref, app_auth_token=token)
    assert found["trade_no"] == trade.trade_no
    own = await isv.call("alipay.trade.query", ref)  # without the token: the ISV's own shop
    assert_refused(own, "40004", "ACQ.TRADE_NOT_EXIST")

    buyer = await shop.consumer()
    await runtime.payments.paying.pay_trade(trade.trade_no, buyer, pin=PIN)
    refund = {**ref, "refund_amount": "5.00", "out_request_no": "r1"}
    refunded = await isv.call("alipay.trade.refund", refund, app_auth_token=token)
    assert (refunded["fund_change"], refunded["refund_fee"]) == ("Y", "5.00")

    stranger = await app_client(runtime, client, (await shop.merchant()).id)
    theirs = order()
    await stranger.call("alipay.trade.precreate", theirs)
    hidden = {"out_trade_no": theirs["out_trade_no"]}
    answer = await isv.call("alipay.trade.query", hidden, app_auth_token=token)
    assert_refused(answer, "40004", "ACQ.TRADE_NOT_EXIST")

    queried = await isv.call(TOKEN_QUERY, {"app_auth_token": token})
    assert (queried["status"], queried["user_id"]) == ("valid", alipay_user_id(seller.merchant))
    assert queried["expires_in"] > 31535000 and queried["auth_start"] < queried["auth_end"]
    assert "alipay.trade.precreate" in queried["auth_methods"]
    assert TOKEN_APP not in queried["auth_methods"]
    (listed,) = await seller.authorisations(client)
    assert (listed["app_id"], listed["state"]) == (isv.app_id, "valid")
    assert token not in str(listed) and issued["app_refresh_token"] not in str(listed)
    stored = await runtime.db.fetch_one(
        "select token_hash, refresh_token_hash from app_authorisation where merchant_id = %s",
        (seller.merchant.id,),
    )  # only hashes are kept
    assert stored == {
        "token_hash": hashlib.sha256(token.encode()).hexdigest(),
        "refresh_token_hash": hashlib.sha256(issued["app_refresh_token"].encode()).hexdigest(),
    }


async def test_refresh_replaces_the_pair_and_revocation_ends_it(
    runtime: Runtime, client: httpx.AsyncClient, isv: AlipayTestClient
) -> None:
    seller = await new_seller(runtime)
    first = await exchange(isv, await seller.grant(client, isv.app_id))
    refresh = {"grant_type": "refresh_token", "refresh_token": first["app_refresh_token"]}
    # fzlee's ISVAliPay sends the current token along with a refresh: it is ignored.
    second = await isv.call(TOKEN_APP, refresh, app_auth_token="whatever")
    assert second["code"] == "10000" and second["app_auth_token"] != first["app_auth_token"]
    assert second["user_id"] == first["user_id"]

    query = {"out_trade_no": "nope"}
    old = await isv.call("alipay.trade.query", query, app_auth_token=first["app_auth_token"])
    assert_refused(old, "20001", "aop.invalid-app-auth-token")
    assert_refused(await isv.call(TOKEN_APP, refresh), "40002", "isv.refresh-token-invalid")
    token = second["app_auth_token"]
    works = await isv.call("alipay.trade.query", query, app_auth_token=token)
    assert_refused(works, "40004", "ACQ.TRADE_NOT_EXIST")  # acting for the seller

    assert (await seller.revoke(client, isv.app_id)).status_code == 204
    assert (await seller.revoke(client, isv.app_id)).status_code == 204
    revoked = await isv.call("alipay.trade.query", query, app_auth_token=token)
    assert_refused(revoked, "20001", "aop.invalid-app-auth-token")
    assert "revoked" in revoked["sub_msg"]
    assert (await isv.call(TOKEN_QUERY, {"app_auth_token": token}))["status"] == "invalid"
    again = {"grant_type": "refresh_token", "refresh_token": second["app_refresh_token"]}
    assert_refused(await isv.call(TOKEN_APP, again), "40002", "isv.refresh-token-invalid")
    assert [a["state"] for a in await seller.authorisations(client)] == ["revoked"]

    renewed = await exchange(isv, await seller.grant(client, isv.app_id))
    fresh = renewed["app_auth_token"]
    works = await isv.call("alipay.trade.query", query, app_auth_token=fresh)
    assert_refused(works, "40004", "ACQ.TRADE_NOT_EXIST")
    assert [a["state"] for a in await seller.authorisations(client)] == ["valid"]


async def test_only_the_isv_the_merchant_chose_may_act_for_it(
    runtime: Runtime, client: httpx.AsyncClient, shop: Shop, isv: AlipayTestClient
) -> None:
    seller = await new_seller(runtime)
    plain = await app_client(runtime, client, seller.merchant.id)
    rival = await app_client(runtime, client, (await shop.merchant()).id, isv=True)

    code = await seller.grant(client, isv.app_id)
    assert_refused(await exchange(rival, code), "40002", "isv.code-invalid")
    assert_refused(await exchange(plain, code), "40006", "isv.insufficient-isv-permissions")
    issued = await exchange(isv, code)
    assert issued["auth_app_id"] == plain.app_id  # the seller's own app
    token = issued["app_auth_token"]

    query = {"out_trade_no": "nope"}
    not_isv = await plain.call("alipay.trade.query", query, app_auth_token=token)
    assert_refused(not_isv, "40006", "isv.insufficient-isv-permissions")
    not_theirs = await rival.call("alipay.trade.query", query, app_auth_token=token)
    assert_refused(not_theirs, "20001", "aop.invalid-app-auth-token")
    unknown = await isv.call("alipay.trade.query", query, app_auth_token="0" * 40)
    assert_refused(unknown, "20001", "aop.invalid-app-auth-token")
    assert_refused(await exchange(isv, "0" * 32), "40002", "isv.code-invalid")
    bad_grant = await isv.call(TOKEN_APP, {"grant_type": "password"})
    assert_refused(bad_grant, "40002", "isv.invalid-parameter")
    no_code = await isv.call(TOKEN_APP, {"grant_type": "authorization_code"})
    assert_refused(no_code, "40002", "isv.invalid-parameter")
    on_rival = await rival.call(TOKEN_QUERY, {"app_auth_token": token})
    assert_refused(on_rival, "20001", "aop.invalid-app-auth-token")


async def test_the_rest_api_refuses_what_cannot_be_authorised(
    runtime: Runtime, client: httpx.AsyncClient, shop: Shop, isv: AlipayTestClient
) -> None:
    seller = await new_seller(runtime)
    plain = await app_client(runtime, client, seller.merchant.id)
    path = "/v1/merchant/app-authorisations"
    cases = [
        ({"app_id": plain.app_id}, 422, "app_not_isv"),
        ({"app_id": "2021999999999999"}, 404, "app_not_found"),
        ({"app_id": "12"}, 422, "invalid_request"),
        ({"app_id": isv.app_id, "extra": 1}, 422, "invalid_request"),
    ]
    for body, status, code in cases:
        answer = await client.post(path, json=body, headers=seller.headers)
        assert (answer.status_code, answer.json()["code"]) == (status, code), answer.text
    never = await seller.revoke(client, isv.app_id)
    assert (never.status_code, never.json()["code"]) == (404, "authorisation_not_found")
    anonymous = await client.post(path, json={"app_id": isv.app_id})
    assert anonymous.status_code == 401

    sandbox = await shop.merchant(sandbox=True)
    sandbox_isv = await app_client(runtime, client, sandbox.id, isv=True)
    mixed = await client.post(path, json={"app_id": sandbox_isv.app_id}, headers=seller.headers)
    assert (mixed.status_code, mixed.json()["code"]) == (422, "sandbox_mismatch")

    first = await seller.grant(client, isv.app_id)
    second = await seller.grant(client, isv.app_id)  # replaces the unused first code
    assert_refused(await exchange(isv, first), "40002", "isv.code-invalid")
    assert (await exchange(isv, second))["code"] == "10000"


# Expiry, on a clock that only moves when the test moves it.


@pytest.fixture(scope="module")
async def timed(database_url: str) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    settings = settings_for(database_url)
    runtime = await Runtime.start(settings, clock=ManualClock())
    transport = httpx.ASGITransport(app=create_app(runtime), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://zhifu.test") as http:
        yield runtime, http
    await runtime.close()


async def test_codes_tokens_and_refresh_tokens_expire(
    timed: tuple[Runtime, httpx.AsyncClient],
) -> None:
    runtime, http = timed
    clock = runtime.clock
    assert isinstance(clock, ManualClock)
    isv = await app_client(runtime, http, (await Shop(runtime).merchant()).id, isv=True)
    seller = await new_seller(runtime)

    def now() -> str:  # the gateway's timestamp window follows the manual clock
        return clock.now().strftime("%Y-%m-%d %H:%M:%S")

    late = await seller.grant(http, isv.app_id)
    clock.advance(timedelta(minutes=10))
    assert_refused(await exchange(isv, late, timestamp=now()), "40002", "isv.code-invalid")
    issued = await exchange(isv, await seller.grant(http, isv.app_id), timestamp=now())
    token, query = issued["app_auth_token"], {"out_trade_no": "nope"}

    clock.advance(timedelta(days=365))
    expired = await isv.call("alipay.trade.query", query, app_auth_token=token, timestamp=now())
    assert_refused(expired, "20001", "aop.app-auth-token-time-out")
    status = await isv.call(TOKEN_QUERY, {"app_auth_token": token}, timestamp=now())
    assert (status["status"], status["expires_in"]) == ("invalid", 0)
    refresh = {"grant_type": "refresh_token", "refresh_token": issued["app_refresh_token"]}
    renewed = await isv.call(TOKEN_APP, refresh, timestamp=now())
    fresh = renewed["app_auth_token"]
    works = await isv.call("alipay.trade.query", query, app_auth_token=fresh, timestamp=now())
    assert_refused(works, "40004", "ACQ.TRADE_NOT_EXIST")

    clock.advance(timedelta(days=372))
    again = {"grant_type": "refresh_token", "refresh_token": renewed["app_refresh_token"]}
    stale = await isv.call(TOKEN_APP, again, timestamp=now())
    assert_refused(stale, "40002", "isv.refresh-token-time-out")
