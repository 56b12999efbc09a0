"""/gateway.do end to end through the REST app: requests signed as the SDKs sign them,
answers checked with the platform key as the SDKs check them."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.openplatform.alipay_client import AlipayTestClient, new_key, sign_params
from tests.openplatform.conftest import app_client
from tests.payments.conftest import PIN, Shop
from zhifu.runtime import Runtime


def order(total: str = "88.88", **more: Any) -> dict[str, Any]:
    return {"out_trade_no": f"T{uuid.uuid4().hex[:16]}", "total_amount": total,
            "subject": "测试 QR order", **more}  # fmt: skip


def assert_refused(answer: dict[str, Any], code: str, sub_code: str) -> None:
    assert (answer["code"], answer["sub_code"]) == (code, sub_code), answer
    assert answer["sub_msg"]


async def paid_trade(alipay: AlipayTestClient, runtime: Runtime, shop: Shop) -> dict[str, Any]:
    """A trade precreated through the gateway and paid by a consumer."""
    asked = order("100.00")
    made = await alipay.call("alipay.trade.precreate", asked)
    assert made["code"] == "10000" and made["qr_code"] and "sub_code" not in made
    waiting = await alipay.call("alipay.trade.query", {"out_trade_no": asked["out_trade_no"]})
    assert waiting["trade_status"] == "WAIT_BUYER_PAY" and waiting["receipt_amount"] == "0.00"
    buyer = await shop.consumer(balance=50_000)
    await runtime.payments.paying.pay_trade(waiting["trade_no"], buyer, pin=PIN)
    return {**asked, "trade_no": waiting["trade_no"], "buyer": buyer}


@pytest.mark.parametrize("style", ["fzlee", "official", "multipart"])
async def test_precreate_pay_query_in_each_request_style(
    alipay: AlipayTestClient, runtime: Runtime, shop: Shop, style: Any
) -> None:
    asked = order("12.5")
    made = await alipay.call("alipay.trade.precreate", asked, style=style)
    assert alipay.last_node == "alipay_trade_precreate_response"
    assert made["out_trade_no"] == asked["out_trade_no"]
    query = {"out_trade_no": asked["out_trade_no"]}
    waiting = await alipay.call("alipay.trade.query", query, style=style)
    buyer = await shop.consumer()
    await runtime.payments.paying.pay_trade(waiting["trade_no"], buyer, pin=PIN)
    paid = await alipay.call("alipay.trade.query", query, style=style)
    assert paid["code"] == "10000" and "sub_code" not in paid
    assert paid["trade_status"] == "TRADE_SUCCESS"
    assert paid["total_amount"] == paid["receipt_amount"] == "12.50"
    assert paid["buyer_user_id"] == f"2088{buyer:012d}" and "*" in paid["buyer_logon_id"]
    assert paid["fund_bill_list"] == [{"fund_channel": "ALIPAYACCOUNT", "amount": "12.50"}]


async def test_refunds_in_parts_are_idempotent_by_out_request_no(
    alipay: AlipayTestClient, runtime: Runtime, shop: Shop
) -> None:
    trade = await paid_trade(alipay, runtime, shop)
    ref = {"out_trade_no": trade["out_trade_no"]}
    first = await alipay.call(
        "alipay.trade.refund", {**ref, "refund_amount": "30.00", "out_request_no": "r1"}
    )
    assert (first["code"], first["fund_change"], first["refund_fee"]) == ("10000", "Y", "30.00")
    assert first["send_back_fee"] == "30.00" and first["buyer_user_id"]
    again = await alipay.call(
        "alipay.trade.refund", {**ref, "refund_amount": "30.00", "out_request_no": "r1"}
    )
    assert (again["fund_change"], again["refund_fee"]) == ("N", "30.00")
    discordant = await alipay.call(
        "alipay.trade.refund", {**ref, "refund_amount": "31.00", "out_request_no": "r1"}
    )
    assert_refused(discordant, "40004", "ACQ.DISCORDANT_REPEAT_REQUEST")
    too_much = await alipay.call(
        "alipay.trade.refund", {**ref, "refund_amount": "70.01", "out_request_no": "r2"}
    )
    assert_refused(too_much, "40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL")
    by_trade_no = {"trade_no": trade["trade_no"], "out_request_no": "r2"}
    second = await alipay.call("alipay.trade.refund", {**by_trade_no, "refund_amount": "20"})
    assert second["refund_fee"] == "50.00"

    found = await alipay.call("alipay.trade.fastpay.refund.query", {**ref, "out_request_no": "r1"})
    assert found["refund_status"] == "REFUND_SUCCESS" and found["refund_amount"] == "30.00"
    assert found["total_amount"] == "100.00" and found["out_request_no"] == "r1"
    none = await alipay.call("alipay.trade.fastpay.refund.query", {**ref, "out_request_no": "r9"})
    assert none["code"] == "10000" and "refund_amount" not in none

    cancelled = await alipay.call("alipay.trade.cancel", ref)
    assert (cancelled["action"], cancelled["retry_flag"]) == ("refund", "N")
    closed = await alipay.call("alipay.trade.query", ref)
    assert closed["trade_status"] == "TRADE_CLOSED"
    assert await shop.wallet_balance(trade["buyer"]) == 50_000


async def test_pay_with_a_payment_code(
    alipay: AlipayTestClient, runtime: Runtime, shop: Shop
) -> None:
    buyer = await shop.consumer()
    code = (await runtime.payments.devices.current_code(buyer)).code
    asked = order("8.00", scene="bar_code", auth_code=code)
    paid = await alipay.call("alipay.trade.pay", asked)
    assert paid["code"] == "10000" and paid["trade_status"] == "TRADE_SUCCESS"
    assert paid["buyer_user_id"] == f"2088{buyer:012d}" and paid["gmt_payment"]
    replayed = await alipay.call("alipay.trade.pay", asked)
    assert replayed["trade_no"] == paid["trade_no"]

    poor = await shop.consumer(balance=100)
    code = (await runtime.payments.devices.current_code(poor)).code
    refused = await alipay.call("alipay.trade.pay", order("8.00", scene="bar_code", auth_code=code))
    assert_refused(refused, "40004", "ACQ.BUYER_BALANCE_NOT_ENOUGH")
    bad = await alipay.call("alipay.trade.pay", order(scene="bar_code", auth_code="123"))
    assert_refused(bad, "40004", "ACQ.PAYMENT_AUTH_CODE_INVALID")
    no_scene = await alipay.call("alipay.trade.pay", order(auth_code=code))
    assert_refused(no_scene, "40002", "isv.invalid-parameter")


async def test_create_close_and_cancel(alipay: AlipayTestClient, shop: Shop) -> None:
    buyer = await shop.consumer()
    asked = order(buyer_id=f"2088{buyer:012d}", timeout_express="90m")
    made = await alipay.call("alipay.trade.create", asked)
    assert made["code"] == "10000" and made["trade_no"]
    ref = {"trade_no": made["trade_no"]}
    assert (await alipay.call("alipay.trade.close", ref))["out_trade_no"] == asked["out_trade_no"]
    again = await alipay.call("alipay.trade.close", ref)
    assert_refused(again, "40004", "ACQ.TRADE_STATUS_ERROR")

    other = await alipay.call("alipay.trade.create", order())
    cancelled = await alipay.call("alipay.trade.cancel", {"out_trade_no": other["out_trade_no"]})
    assert (cancelled["action"], cancelled["retry_flag"]) == ("close", "N")
    reused = await alipay.call("alipay.trade.create", {**asked, "total_amount": "1.00"})
    assert_refused(reused, "40004", "ACQ.CONTEXT_INCONSISTENT")


@pytest.mark.parametrize("total", ["88.888", "-1", "1e3", "0", "0.00", " 1", "abc", "100000000.01"])
async def test_malformed_amounts_are_40002(alipay: AlipayTestClient, total: str) -> None:
    answer = await alipay.call("alipay.trade.precreate", order(total))
    assert_refused(answer, "40002", "isv.invalid-parameter")
    assert "at most two decimals" in answer["sub_msg"]


async def test_amounts_as_json_numbers_are_read_exactly(alipay: AlipayTestClient) -> None:
    assert (await alipay.call("alipay.trade.precreate", order(0.01)))["code"] == "10000"
    answer = await alipay.call("alipay.trade.precreate", order(0.001))
    assert_refused(answer, "40002", "isv.invalid-parameter")


async def test_another_merchants_trade_does_not_exist(
    alipay: AlipayTestClient, runtime: Runtime, client: httpx.AsyncClient, shop: Shop
) -> None:
    asked = order()
    await alipay.call("alipay.trade.precreate", asked)
    stranger = await app_client(runtime, client, (await shop.merchant()).id)
    ref = {"out_trade_no": asked["out_trade_no"]}
    for method, biz in [
        ("alipay.trade.query", ref),
        ("alipay.trade.close", ref),
        ("alipay.trade.cancel", ref),
        ("alipay.trade.refund", {**ref, "refund_amount": "1.00"}),
    ]:
        assert_refused(await stranger.call(method, biz), "40004", "ACQ.TRADE_NOT_EXIST")


async def test_common_parameter_errors(alipay: AlipayTestClient) -> None:
    query = {"out_trade_no": "nope"}
    cases = [
        ({"sign_type": "MD5"}, "40002", "isv.invalid-signature-type"),
        ({"timestamp": "2020-01-01 00:00:00"}, "40002", "isv.invalid-timestamp"),
        ({"timestamp": "yesterday"}, "40002", "isv.invalid-timestamp"),
        ({"timestamp": ""}, "40001", "isv.missing-timestamp"),
        ({"version": ""}, "40001", "isv.missing-version"),
        ({"charset": "latin-1"}, "40002", "isv.invalid-charset"),
        ({"app_id": "2021999999999999"}, "40002", "isv.invalid-app-id"),
        ({"app_id": ""}, "40001", "isv.missing-app-id"),
        ({"biz_content": "{not json"}, "40002", "isv.invalid-parameter"),
        ({"app_auth_token": "token"}, "40006", "isv.insufficient-isv-permissions"),
    ]
    for overrides, code, sub_code in cases:
        answer = await alipay.call("alipay.trade.query", query, **overrides)
        assert_refused(answer, code, sub_code)
        assert alipay.last_node == "alipay_trade_query_response"


async def test_signature_errors(alipay: AlipayTestClient) -> None:
    query = {"out_trade_no": "nope"}
    wrong_key = await alipay.call("alipay.trade.query", query, key=new_key())
    assert_refused(wrong_key, "40002", "isv.invalid-signature")
    params = sign_params(alipay.params("alipay.trade.query", query), alipay.private_key)
    params["biz_content"] = '{"out_trade_no":"other"}'
    tampered = alipay.verified((await alipay.send(params)).text)
    assert_refused(tampered, "40002", "isv.invalid-signature")
    del params["sign"]
    unsigned = alipay.verified((await alipay.send(params)).text)
    assert_refused(unsigned, "40001", "isv.missing-signature")


async def test_legacy_rsa_signatures_are_answered_in_kind(alipay: AlipayTestClient) -> None:
    alipay.sign_type = "RSA"
    answer = await alipay.call("alipay.trade.query", {"out_trade_no": "nope"})
    assert_refused(answer, "40004", "ACQ.TRADE_NOT_EXIST")


async def test_unknown_and_missing_methods_answer_error_response(
    alipay: AlipayTestClient,
) -> None:
    unknown = await alipay.call("alipay.trade.nonsense", {})
    assert alipay.last_node == "error_response"
    assert_refused(unknown, "40002", "isv.invalid-method")
    params = {**alipay.params("alipay.trade.query", {}), "method": ""}
    missing = alipay.verified((await alipay.send(sign_params(params, alipay.private_key))).text)
    assert_refused(missing, "40001", "isv.missing-method")


async def test_methods_an_app_may_not_call(
    runtime: Runtime, client: httpx.AsyncClient, shop: Shop
) -> None:
    merchant = await shop.merchant()
    limited = await app_client(runtime, client, merchant.id, methods=["alipay.trade.query"])
    answer = await limited.call("alipay.trade.precreate", order())
    assert_refused(answer, "40006", "isv.insufficient-isv-permissions")


async def test_every_answer_is_http_200(client: httpx.AsyncClient) -> None:
    for response in [
        await client.get("/gateway.do"),
        await client.post("/gateway.do", content=b"\xff\xfe", headers={"content-type": "x/y"}),
        await client.post(
            "/gateway.do",
            content=b"--b\r\nbroken",
            headers={"content-type": "multipart/form-data; boundary=b"},
        ),
    ]:
        assert response.status_code == 200
        assert '"error_response":{"code":"40001"' in response.text


async def test_a_payment_above_the_password_free_allowance_waits_for_the_buyer(
    alipay: AlipayTestClient, runtime: Runtime, shop: Shop
) -> None:
    buyer = await shop.consumer(balance=100_000)
    code = (await runtime.payments.devices.current_code(buyer)).code
    asked = order("300.00", scene="bar_code", auth_code=code)
    waiting = await alipay.call("alipay.trade.pay", asked)
    assert (waiting["code"], waiting["trade_status"]) == ("10003", "WAIT_BUYER_PAY")
    assert "sub_code" not in waiting and "gmt_payment" not in waiting
    await runtime.payments.paying.pay_trade(waiting["trade_no"], buyer, pin=PIN)
    paid = await alipay.call("alipay.trade.query", {"trade_no": waiting["trade_no"]})
    assert paid["trade_status"] == "TRADE_SUCCESS"


@pytest.mark.parametrize("method", ["alipay.trade.precreate", "alipay.trade.pay"])
async def test_an_internal_notify_url_is_refused(alipay: AlipayTestClient, method: str) -> None:
    scanned = {"scene": "bar_code", "auth_code": "28" + "0" * 16}
    biz = order(**(scanned if method == "alipay.trade.pay" else {}))
    answer = await alipay.call(method, biz, notify_url="http://169.254.169.254/latest/")
    assert_refused(answer, "40004", "ACQ.INVALID_PARAMETER")
    assert "169.254.169.254" in answer["sub_msg"]
