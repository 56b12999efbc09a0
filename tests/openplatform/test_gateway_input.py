"""/gateway.do refuses input no client means to send in Alipay's own form (HTTP 200, a
signed answer, 40002 isv.invalid-parameter), never isp.unknow-error."""

from __future__ import annotations

import pytest

from tests.openplatform.alipay_client import AlipayTestClient, sign_params


def assert_invalid_parameter(answer: dict[str, object]) -> None:
    assert (answer["code"], answer["sub_code"]) == ("40002", "isv.invalid-parameter"), answer
    assert answer["sub_msg"]


@pytest.mark.parametrize("style", ["fzlee", "official", "multipart"])
async def test_a_nul_in_a_common_parameter_is_an_invalid_parameter(
    alipay: AlipayTestClient, style: str
) -> None:
    answer = await alipay.call(
        "alipay.trade.query", {"out_trade_no": "T1"}, style=style, app_id=f"{alipay.app_id}\x00"
    )
    assert_invalid_parameter(answer)


async def test_a_control_character_in_biz_content_is_an_invalid_parameter(
    alipay: AlipayTestClient,
) -> None:
    answer = await alipay.call("alipay.trade.query", {"out_trade_no": "T\x00\x1b1"})
    assert_invalid_parameter(answer)


@pytest.mark.parametrize("depth", [65, 100_000])
async def test_biz_content_nested_too_deep_is_an_invalid_parameter(
    alipay: AlipayTestClient, depth: int
) -> None:
    deep = '{"out_trade_no":"T1","extend_params":' + "[" * depth + "]" * depth + "}"
    answer = await alipay.call("alipay.trade.query", {}, style="official", biz_content=deep)
    assert_invalid_parameter(answer)


async def test_a_nul_in_a_multipart_field_is_an_invalid_parameter(
    alipay: AlipayTestClient,
) -> None:
    params = alipay.params("alipay.trade.query", {"out_trade_no": "T1"}, style="multipart")
    signed = sign_params({**params, "app_auth_token": "token\x00"}, alipay.private_key)
    fields = {name: signed.pop(name) for name in ("biz_content", "app_auth_token")}
    files = {name: (None, value) for name, value in fields.items()}
    response = await alipay.http.post("/gateway.do", params=signed, files=files)
    assert response.status_code == 200
    assert_invalid_parameter(alipay.verified(response.text))
