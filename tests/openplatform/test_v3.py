"""The v3 OpenAPI (`/v3/alipay/trade/...`) through the REST app: requests signed the way
Ant's Node SDK signs them (v3_client.py), answers verified the way it verifies them."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature

from tests.openplatform.alipay_client import new_key, spki_pem
from tests.openplatform.v3_client import V3TestClient
from tests.payments.conftest import PIN, Shop
from zhifu.openplatform.signing import load_public_key
from zhifu.openplatform.v3 import Nonces
from zhifu.runtime import Runtime


def order(total: str = "88.88", **more: Any) -> dict[str, Any]:
    return {"out_trade_no": f"T{uuid.uuid4().hex[:16]}", "total_amount": total,
            "subject": "测试 v3 order", **more}  # fmt: skip


async def v3_client(
    runtime: Runtime, http: httpx.AsyncClient, merchant_id: int, **options: Any
) -> V3TestClient:
    key = new_key()
    app = await runtime.openplatform.create_app(merchant_id, spki_pem(key), **options)
    platform = load_public_key(await runtime.openplatform.platform_public_key())
    return V3TestClient(http, app.app_id, key, platform)


@pytest.fixture
async def v3(runtime: Runtime, client: httpx.AsyncClient, shop: Shop) -> V3TestClient:
    return await v3_client(runtime, client, (await shop.merchant()).id)


async def test_precreate_query_refund_through_v3(
    v3: V3TestClient, runtime: Runtime, shop: Shop
) -> None:
    asked = order("100.00", notify_url="http://merchant.example/notify")
    made = await v3.curl("POST", "/v3/alipay/trade/precreate", body=asked)
    assert made.status == 200 and made.data["qr_code"]
    assert made.data["out_trade_no"] == asked["out_trade_no"] and "code" not in made.data
    ref = {"out_trade_no": asked["out_trade_no"]}
    waiting = await v3.curl("GET", "/v3/alipay/trade/query", query=ref)
    assert waiting.data["trade_status"] == "WAIT_BUYER_PAY"
    buyer = await shop.consumer(balance=50_000)
    await runtime.payments.paying.pay_trade(waiting.data["trade_no"], buyer, pin=PIN)
    paid = await v3.curl("GET", "/v3/alipay/trade/query", query=ref)
    assert (paid.data["trade_status"], paid.data["receipt_amount"]) == ("TRADE_SUCCESS", "100.00")

    refund = {**ref, "refund_amount": "30.00", "out_request_no": "r1"}
    first = await v3.curl("POST", "/v3/alipay/trade/refund", body=refund)
    assert first.status == 200
    assert (first.data["fund_change"], first.data["refund_fee"]) == ("Y", "30.00")
    again = await v3.curl("POST", "/v3/alipay/trade/refund", body=refund)
    assert (again.data["fund_change"], again.data["refund_fee"]) == ("N", "30.00")
    discordant = await v3.curl(
        "POST", "/v3/alipay/trade/refund", body={**refund, "refund_amount": "31.00"}
    )
    assert (discordant.status, discordant.data["code"]) == (400, "DISCORDANT_REPEAT_REQUEST")
    queried = await v3.curl(
        "POST", "/v3/alipay/trade/fastpay/refund/query", body={**ref, "out_request_no": "r1"}
    )
    assert queried.data["refund_amount"] == "30.00"
    assert await shop.wallet_balance(buyer) == 50_000 - 10_000 + 3_000


async def test_the_same_out_trade_no_twice_returns_the_first_trade(
    v3: V3TestClient, runtime: Runtime, shop: Shop
) -> None:
    asked = order("5.00")
    first = await v3.curl("POST", "/v3/alipay/trade/create", body=asked)
    again = await v3.curl("POST", "/v3/alipay/trade/create", body=asked)
    assert first.status == again.status == 200
    assert again.data["trade_no"] == first.data["trade_no"]
    other = await v3.curl("POST", "/v3/alipay/trade/create", body={**asked, "total_amount": "6"})
    assert (other.status, other.data["code"]) == (400, "CONTEXT_INCONSISTENT")

    buyer = await shop.consumer()
    code = (await runtime.payments.devices.current_code(buyer)).code
    payment = order("8.00", scene="bar_code", auth_code=code)
    paid = await v3.curl("POST", "/v3/alipay/trade/pay", body=payment)
    assert paid.data["trade_status"] == "TRADE_SUCCESS" and paid.data["gmt_payment"]
    replayed = await v3.curl("POST", "/v3/alipay/trade/pay", body=payment)
    assert replayed.data["trade_no"] == paid.data["trade_no"]


async def test_close_and_cancel(v3: V3TestClient) -> None:
    made = await v3.curl("POST", "/v3/alipay/trade/create", body=order())
    closed = await v3.curl(
        "POST", "/v3/alipay/trade/close", body={"trade_no": made.data["trade_no"]}
    )
    assert closed.status == 200 and closed.data["trade_no"] == made.data["trade_no"]
    again = await v3.curl(
        "POST", "/v3/alipay/trade/close", body={"trade_no": made.data["trade_no"]}
    )
    assert again.status == 400 and again.data["code"] in ("TRADE_STATUS_ERROR", "TRADE_HAS_CLOSE")
    other = await v3.curl("POST", "/v3/alipay/trade/create", body=order())
    cancelled = await v3.curl(
        "POST", "/v3/alipay/trade/cancel", body={"out_trade_no": other.data["out_trade_no"]}
    )
    assert cancelled.data["action"] == "close"


async def test_refusals_are_http_errors_with_code_and_message(
    v3: V3TestClient, runtime: Runtime, client: httpx.AsyncClient, shop: Shop
) -> None:
    missing = await v3.curl("GET", "/v3/alipay/trade/query", query={"out_trade_no": "nope"})
    assert (missing.status, missing.data["code"]) == (404, "TRADE_NOT_EXIST")
    assert missing.data["message"]
    bad_amount = await v3.curl("POST", "/v3/alipay/trade/precreate", body=order("1.001"))
    assert (bad_amount.status, bad_amount.data["code"]) == (400, "invalid-parameter")

    forged = await v3.curl("POST", "/v3/alipay/trade/create", body=order(), key=new_key())
    assert (forged.status, forged.data["code"]) == (401, "invalid-signature")
    stranger = V3TestClient(client, "2021999999999999", v3.private_key, v3.platform_key)
    unknown = await stranger.curl("POST", "/v3/alipay/trade/create", body=order())
    assert (unknown.status, unknown.data["code"]) == (401, "invalid-app-id")
    unsigned = await v3.curl(
        "POST", "/v3/alipay/trade/create", body=order(), authorization="Bearer x"
    )
    assert (unsigned.status, unsigned.data["code"]) == (401, "invalid-authorization")
    old = int(time.time() * 1000) - 10 * 60 * 1000
    stale = await v3.curl("POST", "/v3/alipay/trade/create", body=order(), timestamp_ms=old)
    assert (stale.status, stale.data["code"]) == (401, "invalid-timestamp")

    narrow = await v3_client(
        runtime, client, (await shop.merchant()).id, methods=["alipay.trade.query"]
    )
    denied = await narrow.curl("POST", "/v3/alipay/trade/create", body=order())
    assert (denied.status, denied.data["code"]) == (403, "insufficient-isv-permissions")


async def test_a_replayed_request_is_refused(v3: V3TestClient) -> None:
    """The same signed request (same nonce) sent twice: the second is a replay."""
    body = order()
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    authorization = v3.authorization("POST", "/v3/alipay/trade/create", text)
    headers = {"authorization": authorization, "content-type": "application/json"}
    first = await v3.http.post("/v3/alipay/trade/create", content=text, headers=headers)
    assert first.status_code == 200, first.text
    replay = await v3.http.post("/v3/alipay/trade/create", content=text, headers=headers)
    assert replay.status_code == 401 and replay.json()["code"] == "invalid-nonce"
    v3.verify(first)


async def test_identical_requests_racing_are_answered_once(v3: V3TestClient) -> None:
    body = order()
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    headers = {
        "authorization": v3.authorization("POST", "/v3/alipay/trade/create", text),
        "content-type": "application/json",
    }
    sent = [
        v3.http.post("/v3/alipay/trade/create", content=text, headers=headers) for _ in range(4)
    ]
    statuses = sorted(response.status_code for response in await asyncio.gather(*sent))
    assert statuses == [200, 401, 401, 401]


async def test_a_nonce_is_forgotten_once_its_window_has_passed(runtime: Runtime) -> None:
    """Another app may use the same nonce; an expired one is deleted, so usable again
    (its timestamp is then refused by the window anyway)."""
    nonces, now = Nonces(runtime.db), datetime.now(UTC)
    app_id, other = (f"2021{uuid.uuid4().int % 10**12:012d}" for _ in range(2))
    expires = now + timedelta(minutes=5)
    assert await nonces.first_use(app_id, "n1", expires, now)
    assert not await nonces.first_use(app_id, "n1", expires, now)
    assert await nonces.first_use(other, "n1", expires, now)
    later = now + timedelta(minutes=6)
    assert await nonces.first_use(app_id, "n1", later + timedelta(minutes=5), later)


async def test_the_answer_is_signed_over_timestamp_nonce_and_body(v3: V3TestClient) -> None:
    response = await v3.send("POST", "/v3/alipay/trade/create", body=order())
    assert response.status_code == 200
    v3.verify(response)
    assert response.headers["alipay-trace-id"]
    assert "alipay-sn" not in response.headers  # public-key mode
    tampered = httpx.Response(200, headers=response.headers, text=response.text + " ")
    with pytest.raises(InvalidSignature):
        v3.verify(tampered)


async def test_an_isv_acts_for_a_merchant_with_the_app_auth_token_header(
    runtime: Runtime, client: httpx.AsyncClient, shop: Shop
) -> None:
    isv = await v3_client(runtime, client, (await shop.merchant()).id, isv=True)
    seller = await shop.merchant()
    authorisations = runtime.openplatform.authorisations
    granted = await authorisations.grant(seller, isv.app_id)
    app = await runtime.openplatform.apps.get(isv.app_id)
    token = (await authorisations.exchange(app, granted.app_auth_code)).app_auth_token
    made = await isv.curl("POST", "/v3/alipay/trade/create", body=order(), token=token)
    assert made.status == 200
    trade = await runtime.payments.trades.get(seller.id, trade_no=made.data["trade_no"])
    assert trade.merchant_id == seller.id
    wrong = await isv.curl("POST", "/v3/alipay/trade/create", body=order(), token="nonsense")
    assert (wrong.status, wrong.data["code"]) == (401, "invalid-app-auth-token")


@pytest.mark.parametrize(
    ("auth_string", "code"),
    [
        ("app_id=2021\x00,nonce=n,timestamp=1", "invalid-app-id"),
        ("app_id={app},nonce=n,timestamp=99999999999999999999", "invalid-timestamp"),
        ("app_id={app},nonce=a\x00b,timestamp=1", "invalid-nonce"),
        ("app_id={app},nonce=" + "n" * 65 + ",timestamp=1", "invalid-nonce"),
        ("app_id={app},timestamp=1", "invalid-authorization"),
    ],
)
async def test_a_malformed_auth_string_is_refused_not_a_server_error(
    v3: V3TestClient, auth_string: str, code: str
) -> None:
    header = f"ALIPAY-SHA256withRSA {auth_string.format(app=v3.app_id)},sign=AAAA"
    answer = await v3.curl("POST", "/v3/alipay/trade/create", body=order(), authorization=header)
    assert (answer.status, answer.data["code"]) == (401, code)
