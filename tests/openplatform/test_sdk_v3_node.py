"""The v3 OpenAPI driven by Ant's unmodified Node SDK (npm `alipay-sdk` 4.x) and its
`curl()`, against a real `zhifu serve`: the SDK signs, zhifu verifies; zhifu signs, the
SDK verifies (it throws on a bad answer signature or a wrong `alipay-sn`).

Needs node (18+) and the package, installed outside the repository:
    npm install --prefix /tmp/alipay-sdk-node alipay-sdk@4
or ZHIFU_NODE_ALIPAY_SDK pointing at an installed `alipay-sdk` package directory.
Without them the test skips.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import ServerProcess, cli
from tests.openplatform.alipay_client import (
    new_key,
    pkcs1_private_pem,
    pkcs1_public_pem,
    spki_pem,
)
from tests.openplatform.test_sdk_fzlee import consumer_pays, server
from tests.payments.conftest import Shop
from zhifu.runtime import Runtime

__all__ = ["server"]  # the server fixture, shared
SDK = Path(os.environ.get("ZHIFU_NODE_ALIPAY_SDK", "/tmp/alipay-sdk-node/node_modules/alipay-sdk"))
NODE = shutil.which("node")
DRIVER = Path(__file__).with_name("node_v3_driver.js")

pytestmark = pytest.mark.skipif(
    NODE is None or not (SDK / "package.json").exists(),
    reason=f"node or the npm package alipay-sdk ({SDK}) is missing (see the module docstring)",
)


class NodeApp:
    def __init__(self, server: ServerProcess, app_id: str, private_pem: str, **config: str):
        self.config = {"appId": app_id, "privateKey": private_pem, "endpoint": server.url,
                       "timeout": 30000, **config}  # fmt: skip

    def run(self, *calls: dict[str, Any], **config: str) -> list[dict[str, Any]]:
        job = {"sdk": str(SDK), "config": {**self.config, **config}, "calls": list(calls)}
        assert NODE is not None
        done = subprocess.run(
            [NODE, str(DRIVER)], input=json.dumps(job), capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        results: list[dict[str, Any]] = json.loads(done.stdout)
        return results

    def curl(self, verb: str, path: str, **options: Any) -> dict[str, Any]:
        (result,) = self.run({"verb": verb, "path": path, "options": options})
        return result


def register(server: ServerProcess, tmp_path: Path) -> tuple[NodeApp, str]:
    where = {"database_url": server.database_url}
    merchant = cli("merchant", "create", "--name", "Node shop", **where)
    key = new_key()
    key_file = tmp_path / f"app-{uuid.uuid4().hex[:6]}.pem"
    key_file.write_text(pkcs1_public_pem(key))
    app_id = cli("app", "create", "--merchant", str(merchant["id"]), "--public-key",
                 str(key_file), **where)["app_id"]  # fmt: skip
    platform = cli("app", "platform-key", **where)["public_key"]
    return NodeApp(server, app_id, pkcs1_private_pem(key), alipayPublicKey=platform), app_id


async def test_curl_precreate_query_refund(
    server: ServerProcess, runtime: Runtime, tmp_path: Path
) -> None:
    app, _ = register(server, tmp_path)
    out_trade_no = f"T{uuid.uuid4().hex[:12]}"
    order = {"out_trade_no": out_trade_no, "total_amount": "100.00", "subject": "测试 v3"}
    made = app.curl("POST", "/v3/alipay/trade/precreate", body=order)
    assert made["status"] == 200 and made["data"]["qr_code"], made
    query = {"query": {"out_trade_no": out_trade_no}}
    waiting = app.curl("GET", "/v3/alipay/trade/query", **query)
    assert waiting["data"]["trade_status"] == "WAIT_BUYER_PAY", waiting

    shop = Shop(runtime)
    buyer = await runtime.users.get(await shop.consumer(balance=50_000))
    consumer_pays(server, buyer.phone, waiting["data"]["trade_no"])
    refund = {"out_trade_no": out_trade_no, "refund_amount": "30.00", "out_request_no": "r1"}
    first, again, missing = app.run(
        {"verb": "POST", "path": "/v3/alipay/trade/refund", "options": {"body": refund}},
        {"verb": "POST", "path": "/v3/alipay/trade/refund", "options": {"body": refund}},
        {"verb": "GET", "path": "/v3/alipay/trade/query",
         "options": {"query": {"out_trade_no": "no-such-trade"}}},
    )  # fmt: skip
    assert (first["data"]["fund_change"], first["data"]["refund_fee"]) == ("Y", "30.00"), first
    assert (again["data"]["fund_change"], again["data"]["refund_fee"]) == ("N", "30.00"), again
    assert missing["error"]["name"] == "AlipayRequestError", missing
    assert (missing["error"]["code"], missing["error"]["status"]) == ("TRADE_NOT_EXIST", 404)


def test_curl_refusals_and_answer_verification(server: ServerProcess, tmp_path: Path) -> None:
    app, _ = register(server, tmp_path)
    forged = app.run(
        {"verb": "POST", "path": "/v3/alipay/trade/create",
         "options": {"body": {"out_trade_no": "x", "total_amount": "1", "subject": "x"}}},
        privateKey=pkcs1_private_pem(new_key()),
    )  # fmt: skip
    assert (forged[0]["error"]["code"], forged[0]["error"]["status"]) == (
        "invalid-signature",
        401,
    )
    # An SDK configured with another "alipay public key" refuses zhifu's answer.
    impostor = app.run(
        {"verb": "GET", "path": "/v3/alipay/trade/query",
         "options": {"query": {"trade_no": "1"}}},
        {"verb": "POST", "path": "/v3/alipay/trade/create",
         "options": {"body": {"out_trade_no": f"T{uuid.uuid4().hex[:12]}",
                              "total_amount": "1.00", "subject": "x"}}},
        alipayPublicKey=spki_pem(new_key()),
    )  # fmt: skip
    assert impostor[0]["error"]["code"] == "TRADE_NOT_EXIST"  # errors are not verified
    assert impostor[1]["error"]["code"] == "response-signature-verify-error", impostor


def test_curl_in_certificate_mode(server: ServerProcess, tmp_path: Path) -> None:
    app, app_id = register(server, tmp_path)
    out = tmp_path / "certs"
    cli("app", "certs", app_id, "--out", str(out), database_url=server.database_url)
    certs = {
        "appCertPath": str(out / f"appCertPublicKey_{app_id}.crt"),
        "alipayPublicCertPath": str(out / "alipayCertPublicKey_RSA2.crt"),
        "alipayRootCertPath": str(out / "alipayRootCert.crt"),
    }
    config = {name: value for name, value in app.config.items() if name != "alipayPublicKey"}
    cert_app = object.__new__(NodeApp)
    cert_app.config = {**config, **certs}
    order = {"out_trade_no": f"T{uuid.uuid4().hex[:12]}", "total_amount": "2.00", "subject": "c"}
    made = cert_app.curl("POST", "/v3/alipay/trade/create", body=order)
    assert made["status"] == 200 and made["data"]["trade_no"], made
