"""Drive zhifu's gateway with Ant's unmodified PyPI `alipay-sdk-python` (3.7.1411).

Runs under the SDK's own interpreter (never zhifu's venv: the two Alipay SDKs share the
package name `alipay`). Reads a JSON job from stdin:

    {"server_url", "app_id", "app_private_key", "alipay_public_key",
     "calls": [call, ...]  or  "clients": [[call, ...], ...]}

`clients` runs each list in a thread of its own with its own DefaultAlipayClient, all
started together (see sdk_threads.py). A call is
    {"method", "biz", "clock_offset_s"?, "notify_url"?, "return_url"?, "page"?: "GET"|"POST"}
and is sent through the SDK's own request class for the method (`alipay.trade.pay` ->
AlipayTradePayRequest, its biz_content built with AlipayTradePayModel). `page` asks for
`page_execute` (a browser redirect: the URL or the auto-submitting form) instead of
`execute`. A call {"verify": {<fields received, sign included>}} checks a notification's
or a return's fields as a merchant does with this SDK (it has no helper for it): pop
`sign` and `sign_type`, then SignatureUtils.get_sign_content and verify_with_rsa.
Prints one result per call (a list per client for `clients`):
    {"response": {...}, "success": is_success()}   the verified answer's node
    {"page": "<url or form>"}                      what page_execute returned
    {"verified": true|false}                       a verify call's outcome
    {"error": "<exception class>", "detail": "..."} what the SDK raised
`clock_offset_s` moves the client's clock (the SDK reads `datetime.datetime.now()`), to
send an expired timestamp without touching the SDK's code. The job may also set the
SDK's `charset` (e.g. "GBK"), `sign_type` and `encrypt_type` + `encrypt_key`.

The SDK's AES (util/EncryptUtils.py) was written for Python 2: it hands pycryptodome a
str IV and a str plaintext, which pycryptodome refuses on Python 3 (TypeError, before
anything is sent). `_python2_aes` gives pycryptodome those bytes as Python 2 did (the IV
of sixteen NULs, the padded text in the configured charset); what the SDK encrypts,
signs, sends and verifies is its own code, unchanged.
"""

import datetime
import importlib
import json
import sys
import threading
import types

import alipay.aop.api.DefaultAlipayClient as client_module
from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.DefaultAlipayClient import DefaultAlipayClient
from alipay.aop.api.util.SignatureUtils import get_sign_content, verify_with_rsa
from sdk_threads import run_job


class _ShiftedClock(datetime.datetime):
    offset = threading.local()

    @classmethod
    def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
        shift = getattr(cls.offset, "value", datetime.timedelta())
        return datetime.datetime.now(tz) + shift


def sdk_class(method: str, kind: str) -> type:
    """The SDK's class for a method: alipay.trade.pay -> AlipayTradePay + kind."""
    name = "".join(part.capitalize() for part in method.split(".")) + kind
    package = "request" if kind == "Request" else "domain" if kind == "Model" else "response"
    return getattr(importlib.import_module(f"alipay.aop.api.{package}.{name}"), name)


def sdk_request(call: dict):  # type: ignore[no-untyped-def, type-arg]
    model = sdk_class(call["method"], "Model").from_alipay_dict(call["biz"])
    request = sdk_class(call["method"], "Request")(biz_model=model)
    for name in ("notify_url", "return_url"):
        if call.get(name):
            setattr(request, name, call[name])
    return request


def verified(public_key: str, fields: dict) -> bool:  # type: ignore[type-arg]
    data = dict(fields)
    signature = data.pop("sign")
    data.pop("sign_type", None)
    return verify_with_rsa(public_key, get_sign_content(data).encode("utf-8"), signature)


class _BytesCipher:
    def __init__(self, cipher, charset: str) -> None:  # type: ignore[no-untyped-def]
        self.cipher = cipher
        self.charset = charset

    def encrypt(self, data):  # type: ignore[no-untyped-def]
        return self.cipher.encrypt(data.encode(self.charset) if isinstance(data, str) else data)

    def decrypt(self, data):  # type: ignore[no-untyped-def]
        return self.cipher.decrypt(data)


def _python2_aes(charset: str) -> None:
    from alipay.aop.api.util import EncryptUtils

    aes = EncryptUtils.AES

    class Python2Aes:
        MODE_CBC = aes.MODE_CBC
        block_size = aes.block_size

        @staticmethod
        def new(key, mode, iv):  # type: ignore[no-untyped-def]
            iv = iv.encode("latin-1") if isinstance(iv, str) else iv
            return _BytesCipher(aes.new(key, mode, iv), charset)

    EncryptUtils.AES = Python2Aes


class Merchant:
    """A merchant's server: the SDK's client, and zhifu's public key for notifications."""

    def __init__(self, job: dict) -> None:  # type: ignore[type-arg]
        config = AlipayClientConfig()
        config.server_url = job["server_url"]
        config.app_id = job["app_id"]
        config.app_private_key = job["app_private_key"]
        config.alipay_public_key = job["alipay_public_key"]
        config.sign_type = job.get("sign_type", "RSA2")
        config.charset = job.get("charset", "utf-8")
        if job.get("encrypt_key"):
            config.encrypt_type = job.get("encrypt_type", "AES")
            config.encrypt_key = job["encrypt_key"]
            _python2_aes(config.charset)
        self.charset = config.charset
        self.client = DefaultAlipayClient(alipay_client_config=config)
        self.alipay_public_key = job["alipay_public_key"]


def run_call(merchant: Merchant, call: dict) -> dict:  # type: ignore[type-arg]
    _ShiftedClock.offset.value = datetime.timedelta(seconds=call.get("clock_offset_s", 0))
    client = merchant.client
    try:
        if "verify" in call:
            return {"verified": verified(merchant.alipay_public_key, call["verify"])}
        request = sdk_request(call)
        if call.get("page"):
            return {"page": client.page_execute(request, http_method=call["page"])}
        content = client.execute(request)  # raises unless the answer's signature verifies
        response = sdk_class(call["method"], "Response")()
        response.parse_response_content(content)
        return {"response": json.loads(content), "success": response.is_success()}
    except Exception as error:  # the SDK's refusals are what the tests check
        return {"error": type(error).__name__, "detail": str(error)[:300]}


def main() -> None:
    job = json.load(sys.stdin)
    client_module.datetime = types.SimpleNamespace(datetime=_ShiftedClock)
    json.dump(run_job(job, lambda: Merchant(job), run_call), sys.stdout)


if __name__ == "__main__":
    main()
