"""The gateway as unmodified Alipay clients found it wanting: GBK requests, AES content
encryption, an app's own sign type, and per-app open ids. Requests are signed here by
hand, the way the SDKs sign them (alipay_client.py), so each rule is checked on its own."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.events.support import Receiver
from tests.openplatform.alipay_client import (
    AlipayTestClient,
    new_key,
    pkcs1_private_pem,
    rsa_sign,
    spki_pem,
)
from tests.openplatform.conftest import app_client
from tests.openplatform.notify_support import SUCCESS, Zhifu, form_fields, fzlee, private_zhifu
from tests.openplatform.test_gateway import assert_refused, order, paid_trade
from tests.openplatform.test_sdk_fzlee import sdk_available
from tests.payments.conftest import PIN, Shop
from zhifu.openplatform.charsets import encode
from zhifu.openplatform.encryption import AppAesKeys, seal, unseal
from zhifu.openplatform.gateway import serialise
from zhifu.openplatform.keys import KeyPassphraseError
from zhifu.runtime import Runtime

# GBK and GB2312 requests.


def signed_in(params: dict[str, str], alipay: AlipayTestClient, charset: str) -> dict[str, str]:
    """Signed as the official SDK signs with `charset`: the canonical text in its bytes."""
    text = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if v and k != "sign")
    digest = hashes.SHA256() if params["sign_type"] == "RSA2" else hashes.SHA1()
    signature = alipay.private_key.sign(text.encode(charset), rsa_padding.PKCS1v15(), digest)
    return {**params, "sign": base64.b64encode(signature).decode()}


async def send_in(
    alipay: AlipayTestClient, params: dict[str, str], charset: str, *, get: bool = False
) -> httpx.Response:
    """Sent as the SDKs send: url-encoded in `charset`; the official SDK's way (common
    parameters in the query, biz_content in a form body) or fzlee's (all in a GET)."""
    if get:
        return await alipay.http.get(f"/gateway.do?{urlencode(params, encoding=charset)}")
    body = {"biz_content": params.pop("biz_content")}
    return await alipay.http.post(
        f"/gateway.do?{urlencode(params, encoding=charset)}",
        content=urlencode(body, encoding=charset).encode("ascii"),
        headers={"Content-Type": f"application/x-www-form-urlencoded;charset={charset}"},
    )


def verified_in(alipay: AlipayTestClient, response: httpx.Response, charset: str) -> Any:
    """The answer's node, its signature checked over the node's bytes in `charset`."""
    assert response.headers["content-type"] == f"application/json;charset={charset.lower()}"
    raw = response.content.decode(charset)
    node = next(iter(json.loads(raw)))
    start = raw.index(":", raw.index(node)) + 1
    end = raw.rindex(',"sign":"')
    signature = json.loads(raw)["sign"]
    digest = hashes.SHA256() if alipay.sign_type == "RSA2" else hashes.SHA1()
    alipay.platform_key.verify(
        base64.b64decode(signature), raw[start:end].encode(charset), rsa_padding.PKCS1v15(), digest
    )
    return json.loads(raw[start:end])


@pytest.mark.parametrize("charset", ["GBK", "gb2312"])
@pytest.mark.parametrize("get", [False, True])
async def test_gbk_requests_are_read_verified_and_answered_in_their_charset(
    alipay: AlipayTestClient, charset: str, get: bool
) -> None:
    asked = order(subject="测试 龙井")
    params = {**alipay.params("alipay.trade.precreate", asked, "official"), "charset": charset}
    made = verified_in(
        alipay, await send_in(alipay, signed_in(params, alipay, charset), charset, get=get), charset
    )
    assert (made["code"], made["out_trade_no"]) == ("10000", asked["out_trade_no"]), made

    params = {**alipay.params("alipay.trade.create", asked, "official"), "charset": charset}
    created = verified_in(
        alipay, await send_in(alipay, signed_in(params, alipay, charset), charset), charset
    )
    assert created["code"] == "10000", created  # the same order: the same subject was read


async def test_a_gbk_request_signed_over_utf8_bytes_does_not_verify(
    alipay: AlipayTestClient,
) -> None:
    params = {**alipay.params("alipay.trade.precreate", order(subject="测试"), "official")}
    params["charset"] = "GBK"
    wrong = signed_in(params, alipay, "utf-8")
    answer = verified_in(alipay, await send_in(alipay, wrong, "GBK"), "GBK")
    assert_refused(answer, "40002", "isv.invalid-signature")


def test_answers_are_written_and_signed_in_the_requests_charset() -> None:
    body = {"code": "10000", "msg": "Success", "subject": "测试 🍵"}
    signed: list[bytes] = []

    def signer(data: bytes) -> str:
        signed.append(data)
        return "s"

    raw = serialise("x_response", body, signer, "gbk")
    assert "测试".encode("gbk") in raw and signed[0] in raw
    assert json.loads(raw.decode("gbk"))["x_response"]["subject"] == "测试 🍵"
    assert encode("🍵", "gbk") == b"\\ud83c\\udf75"


# AES content encryption.


def aes(key: str) -> Cipher[modes.CBC]:
    return Cipher(algorithms.AES(base64.b64decode(key)), modes.CBC(bytes(16)))


def aes_encrypt(text: str, key: str) -> str:
    padder = padding.PKCS7(128).padder()
    padded = padder.update(text.encode()) + padder.finalize()
    encryptor = aes(key).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


def aes_decrypt(ciphertext: str, key: str) -> str:
    decryptor = aes(key).decryptor()
    padded = decryptor.update(base64.b64decode(ciphertext)) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return (unpadder.update(padded) + unpadder.finalize()).decode()


async def encrypted_call(
    alipay: AlipayTestClient, method: str, biz: dict[str, Any], key: str, **more: str
) -> tuple[str, dict[str, Any]]:
    """An encrypted request signed over its ciphertext; the answer's node (as sent) and
    what it says, its signature checked over the node's text, quotes included."""
    params = alipay.params(method, biz, "official")
    params |= {"encrypt_type": "AES", "biz_content": aes_encrypt(params["biz_content"], key)}
    params |= more
    text = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if v)
    response = await alipay.send(
        {**params, "sign": rsa_sign(text, alipay.private_key, "RSA2")}, "official"
    )
    raw = response.text
    node_text = raw[raw.index(":") + 1 : raw.rindex(',"sign":"')]
    alipay.platform_key.verify(
        base64.b64decode(json.loads(raw)["sign"]),
        node_text.encode(),
        rsa_padding.PKCS1v15(),
        hashes.SHA256(),
    )
    node = json.loads(node_text)
    return node_text, json.loads(aes_decrypt(node, key)) if isinstance(node, str) else node


async def test_aes_encrypted_biz_content_is_read_and_answered_encrypted(
    alipay: AlipayTestClient, runtime: Runtime
) -> None:
    key = await runtime.openplatform.new_aes_key(alipay.app_id)
    assert len(base64.b64decode(key)) == 16
    asked = order(subject="加密 order")
    sent, made = await encrypted_call(alipay, "alipay.trade.precreate", asked, key)
    assert sent.startswith('"') and "out_trade_no" not in sent  # the node is ciphertext
    assert (made["code"], made["out_trade_no"]) == ("10000", asked["out_trade_no"])
    _, query = await encrypted_call(
        alipay, "alipay.trade.query", {"out_trade_no": asked["out_trade_no"]}, key
    )
    assert query["trade_status"] == "WAIT_BUYER_PAY"
    _, missing = await encrypted_call(alipay, "alipay.trade.query", {"out_trade_no": "none"}, key)
    assert_refused(missing, "40004", "ACQ.TRADE_NOT_EXIST")  # refusals are encrypted too

    replaced = await runtime.openplatform.new_aes_key(alipay.app_id)
    _, stale = await encrypted_call(alipay, "alipay.trade.query", {"out_trade_no": "x"}, key)
    assert_refused(stale, "40002", "isv.decryption-error-unknown")
    _, fresh = await encrypted_call(alipay, "alipay.trade.query", {"out_trade_no": "x"}, replaced)
    assert_refused(fresh, "40004", "ACQ.TRADE_NOT_EXIST")
    _, other = await encrypted_call(
        alipay, "alipay.trade.query", {"out_trade_no": "x"}, replaced, encrypt_type="DES"
    )
    assert_refused(other, "40002", "isv.invalid-encrypt-type")


async def test_aes_without_a_key_says_so(alipay: AlipayTestClient) -> None:
    key = base64.b64encode(bytes(16)).decode()
    _, answer = await encrypted_call(alipay, "alipay.trade.query", {"out_trade_no": "x"}, key)
    assert_refused(answer, "40002", "isv.decryption-error-not-valid-encrypt-key")
    assert "aes-key" in answer["sub_msg"]


async def test_aes_keys_are_sealed_at_rest_under_the_passphrase(runtime: Runtime) -> None:
    sealed = seal("c2VjcmV0", "pass phrase")
    assert "c2VjcmV0" not in sealed and unseal(sealed, "pass phrase") == "c2VjcmV0"
    merchant = await Shop(runtime).merchant()
    app = await runtime.openplatform.create_app(merchant.id, spki_pem(new_key()))
    keys = AppAesKeys(runtime.db, runtime.clock, "pass phrase")
    key = await keys.generate(app.app_id)
    row = await runtime.db.fetch_one(
        "select aes_key from open_app_aes_key where app_id = %s", (app.app_id,)
    )
    assert row is not None and key not in row["aes_key"]
    assert await keys.get(app.app_id) == base64.b64decode(key)
    with pytest.raises(KeyPassphraseError):
        await AppAesKeys(runtime.db, runtime.clock).get(app.app_id)

    clear = await AppAesKeys(runtime.db, runtime.clock).generate(app.app_id)
    assert await keys.get(app.app_id) == base64.b64decode(clear)  # and sealed now
    with pytest.raises(KeyPassphraseError):
        await AppAesKeys(runtime.db, runtime.clock).get(app.app_id)


# An app's own sign type.


@pytest.fixture(scope="module")
async def zhifu(server_urls: dict[str, str]) -> AsyncIterator[Zhifu]:
    async with private_zhifu(server_urls["embedded"]) as env:
        yield env


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    server.script([], then=SUCCESS)
    yield server
    server.stop()


async def rsa_app(zhifu: Zhifu) -> tuple[AlipayTestClient, int]:
    merchant = await zhifu.shop.merchant()
    alipay = await app_client(zhifu.runtime, zhifu.http, merchant.id, sign_type="RSA")
    alipay.sign_type = "RSA"
    return alipay, merchant.id


def verify_sha1_notify(fields: dict[str, str], alipay: AlipayTestClient) -> None:
    text = "&".join(f"{k}={v}" for k, v in sorted(fields.items()) if k not in ("sign", "sign_type"))
    alipay.platform_key.verify(
        base64.b64decode(fields["sign"]), text.encode(), rsa_padding.PKCS1v15(), hashes.SHA1()
    )


async def test_an_rsa_apps_notifications_and_answers_are_signed_rsa(
    zhifu: Zhifu, receiver: Receiver
) -> None:
    alipay, merchant_id = await rsa_app(zhifu)
    asked = order()
    made = await zhifu.call(alipay, "alipay.trade.precreate", asked, notify_url=receiver.url)
    assert made["code"] == "10000", made
    buyer = await zhifu.shop.consumer()
    trade = await zhifu.runtime.payments.trades.get(merchant_id, out_trade_no=made["out_trade_no"])
    await zhifu.runtime.payments.paying.pay_trade(trade.trade_no, buyer, pin=PIN)
    await zhifu.deliver()
    (request,) = receiver.received
    fields = form_fields(request.body)
    assert fields["sign_type"] == "RSA"
    verify_sha1_notify(fields, alipay)
    queried = await zhifu.call(alipay, "alipay.trade.query", {"trade_no": trade.trade_no})
    assert fields["buyer_open_id"] == queried["buyer_open_id"]  # the app's open id, notified

    unsigned_type = await zhifu.call(
        alipay, "alipay.trade.query", {"out_trade_no": "x"}, sign_type=""
    )
    assert_refused(unsigned_type, "40001", "isv.missing-signature-type")  # verified as SHA-1

    if sdk_available():  # fzlee's verifier refuses any sign_type but its own
        job: dict[str, Any] = {
            "app_id": alipay.app_id,
            "app_private_key": pkcs1_private_pem(alipay.private_key),
            "alipay_public_key": await zhifu.runtime.openplatform.platform_public_key(),
            "sign_type": "RSA",
            "steps": [{"verify": fields}, {"verify": {**fields, "total_amount": "0.01"}}],
        }
        assert fzlee(job) == [True, False]


async def test_an_app_signs_rsa2_or_rsa(runtime: Runtime, shop: Shop) -> None:
    merchant = await shop.merchant()
    key = spki_pem(new_key())
    assert (await runtime.openplatform.create_app(merchant.id, key)).sign_type == "RSA2"
    legacy = await runtime.openplatform.create_app(merchant.id, key, sign_type="RSA")
    assert (await runtime.openplatform.apps.get(legacy.app_id)).to_dict()["sign_type"] == "RSA"
    with pytest.raises(Exception, match="RSA2 or RSA"):
        await runtime.openplatform.create_app(merchant.id, key, sign_type="MD5")


# Open ids.


async def test_buyers_have_a_stable_open_id_per_app(
    alipay: AlipayTestClient, runtime: Runtime, client: httpx.AsyncClient, shop: Shop
) -> None:
    trade = await paid_trade(alipay, runtime, shop)
    ref = {"trade_no": trade["trade_no"]}
    first = await alipay.call("alipay.trade.query", ref)
    open_id = first["buyer_open_id"]
    assert open_id.startswith("0") and len(open_id) == 47
    assert open_id != first["buyer_user_id"]
    assert (await alipay.call("alipay.trade.query", ref))["buyer_open_id"] == open_id
    refunded = await alipay.call("alipay.trade.refund", {**ref, "refund_amount": "1.00"})
    assert refunded["buyer_open_id"] == open_id

    sibling = await app_client(runtime, client, await alipay_merchant(runtime, alipay))
    seen_by_sibling = await sibling.call("alipay.trade.query", ref)
    assert seen_by_sibling["buyer_open_id"] != open_id  # another app, another open id
    assert seen_by_sibling["buyer_user_id"] == first["buyer_user_id"]

    made = await alipay.call("alipay.trade.create", order(buyer_open_id=open_id))
    created = await alipay.call("alipay.trade.query", {"trade_no": made["trade_no"]})
    assert created["buyer_open_id"] == open_id
    foreign = await sibling.call("alipay.trade.create", order(buyer_open_id=open_id))
    assert_refused(foreign, "40002", "isv.invalid-parameter")


async def alipay_merchant(runtime: Runtime, alipay: AlipayTestClient) -> int:
    return (await runtime.openplatform.apps.get(alipay.app_id)).merchant_id


async def test_payouts_to_an_open_id(
    alipay: AlipayTestClient, runtime: Runtime, client: httpx.AsyncClient, shop: Shop
) -> None:
    trade = await paid_trade(alipay, runtime, shop)  # the merchant now has 100.00
    open_id = (await alipay.call("alipay.trade.query", {"trade_no": trade["trade_no"]}))[
        "buyer_open_id"
    ]

    def transfer(identity: str) -> dict[str, Any]:
        return {
            "out_biz_no": uuid.uuid4().hex,
            "trans_amount": "5.00",
            "product_code": "TRANS_ACCOUNT_NO_PWD",
            "payee_info": {"identity": identity, "identity_type": "ALIPAY_OPEN_ID"},
        }

    before = await shop.wallet_balance(trade["buyer"])
    paid = await alipay.call("alipay.fund.trans.uni.transfer", transfer(open_id))
    assert (paid["code"], paid["status"]) == ("10000", "SUCCESS"), paid
    assert await shop.wallet_balance(trade["buyer"]) == before + 500
    sibling = await app_client(runtime, client, await alipay_merchant(runtime, alipay))
    for stranger in (sibling, alipay):
        identity = open_id if stranger is sibling else "0" + "x" * 46
        refused = await stranger.call("alipay.fund.trans.uni.transfer", transfer(identity))
        assert_refused(refused, "40004", "PAYEE_NOT_EXIST")
