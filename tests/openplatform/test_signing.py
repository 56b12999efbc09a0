"""Request and response signatures, against keys and signatures made like the SDKs'."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from tests.openplatform.alipay_client import (
    new_key,
    pkcs1_public_pem,
    sign_params,
    signed_node,
    spki_pem,
)
from zhifu.openplatform.gateway import serialise
from zhifu.openplatform.signing import (
    InvalidKey,
    canonical_string,
    load_public_key,
    pem_body,
    sign,
    verify_request,
)

APP_KEY = new_key()
OTHER_KEY = new_key()
BIZ = '{"out_trade_no":"T20240101000001","subject":"测试 QR order","total_amount":"88.88"}'


def request(sign_type: str = "RSA2", **more: str) -> dict[str, str]:
    params = {
        "app_id": "2021000000000001",
        "biz_content": BIZ,
        "charset": "utf-8",
        "format": "json",
        "method": "alipay.trade.precreate",
        "notify_url": "http://merchant.example/notify",
        "sign_type": sign_type,
        "timestamp": "2026-11-23 09:02:28",
        "version": "1.0",
        **more,
    }
    return sign_params(params, APP_KEY)


def test_the_canonical_string_is_the_reference_one() -> None:
    params = request()
    assert canonical_string(params) == (
        f"app_id=2021000000000001&biz_content={BIZ}&charset=utf-8&format=json"
        "&method=alipay.trade.precreate&notify_url=http://merchant.example/notify"
        "&sign_type=RSA2&timestamp=2026-11-23 09:02:28&version=1.0"
    )


def test_empty_values_are_left_out_of_the_canonical_string() -> None:
    assert canonical_string({"b": "2", "a": "", "sign": "x", "c": "3"}) == "b=2&c=3"


@pytest.mark.parametrize("sign_type", ["RSA2", "RSA"])
@pytest.mark.parametrize("pem", [spki_pem(APP_KEY), pkcs1_public_pem(APP_KEY)])
def test_a_good_signature_verifies_with_either_key_form(sign_type: str, pem: str) -> None:
    assert verify_request(request(sign_type), load_public_key(pem))


def test_a_bare_spki_body_loads_too() -> None:
    assert verify_request(request(), load_public_key(pem_body(spki_pem(APP_KEY))))


def test_a_tampered_request_fails() -> None:
    params = request()
    params["biz_content"] = BIZ.replace("88.88", "0.01")
    assert not verify_request(params, load_public_key(spki_pem(APP_KEY)))


def test_a_signature_by_another_key_fails() -> None:
    assert not verify_request(request(), load_public_key(spki_pem(OTHER_KEY)))


def test_the_sign_type_must_match_the_digest() -> None:
    params = request("RSA2")
    params["sign_type"] = "RSA"  # an RSA2 signature presented as RSA (SHA-1)
    assert not verify_request(params, load_public_key(spki_pem(APP_KEY)))


@pytest.mark.parametrize("signature", ["", "not base64!", base64.b64encode(b"x" * 256).decode()])
def test_garbage_signatures_fail(signature: str) -> None:
    params = {**request(), "sign": signature}
    assert not verify_request(params, load_public_key(spki_pem(APP_KEY)))


def test_unknown_sign_types_fail() -> None:
    assert not verify_request(request(sign_type="MD5"), load_public_key(spki_pem(APP_KEY)))


@pytest.mark.parametrize(
    "text", ["", "hello", spki_pem(new_key(1024)), "-----BEGIN PUBLIC KEY-----\nAAAA\n"]
)
def test_weak_or_malformed_keys_are_refused(text: str) -> None:
    with pytest.raises(InvalidKey):
        load_public_key(text)


def test_a_response_is_signed_over_the_exact_node_text() -> None:
    body = {"code": "10000", "msg": "Success", "subject": "测试 {x", "qr_code": "a{b}c"}
    raw = serialise("alipay_trade_query_response", body, lambda data: sign(data, APP_KEY)).decode()
    node, text, signature = signed_node(raw)
    assert node == "alipay_trade_query_response"
    APP_KEY.public_key().verify(
        base64.b64decode(signature), text.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    parsed = json.loads(text)
    assert parsed["subject"] == "测试 x" and parsed["qr_code"] == "a{b}c"
    assert list(json.loads(raw)) == ["alipay_trade_query_response", "sign"]
