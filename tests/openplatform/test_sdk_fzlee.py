"""A real `zhifu serve` driven by the unmodified PyPI client `python-alipay-sdk` (fzlee).

The SDK lives in its own venv (it shares the package name `alipay` with Ant's SDK):
    python3 -m venv /tmp/alipay-fzlee-venv
    /tmp/alipay-fzlee-venv/bin/pip install python-alipay-sdk==3.4.0
or set ZHIFU_FZLEE_PYTHON to an interpreter that has it. Without it the test skips.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import ServerProcess, cli
from tests.openplatform.alipay_client import new_key, pkcs1_private_pem, pkcs1_public_pem
from tests.payments.conftest import PIN, Shop
from zhifu.runtime import Runtime

SDK_PYTHON = os.environ.get("ZHIFU_FZLEE_PYTHON", "/tmp/alipay-fzlee-venv/bin/python")
DRIVER = Path(__file__).with_name("fzlee_driver.py")


def sdk_available() -> bool:
    if not Path(SDK_PYTHON).exists():
        return False
    probe = [SDK_PYTHON, "-c", "from alipay import AliPay"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


pytestmark = pytest.mark.skipif(
    not sdk_available(),
    reason=f"python-alipay-sdk is not installed for {SDK_PYTHON} (see the module docstring)",
)


class FzleeApp:
    """One app as a merchant's server sees it: the SDK configured with its keys."""

    def __init__(self, server: ServerProcess, app_id: str, private_pem: str, platform: str):
        self.job = {
            "gateway": f"{server.url}/gateway.do",
            "app_id": app_id,
            "app_private_key": private_pem,
            "alipay_public_key": platform,
        }

    def variant(self, **job: str) -> FzleeApp:
        """The same configuration with some settings changed (another key, app_id...)."""
        changed = object.__new__(FzleeApp)
        changed.job = {**self.job, **job}
        return changed

    def run(self, *calls: dict[str, Any]) -> list[dict[str, Any]]:
        job = json.dumps({**self.job, "calls": list(calls)})
        done = subprocess.run(
            [SDK_PYTHON, str(DRIVER)], input=job, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        results: list[dict[str, Any]] = json.loads(done.stdout)
        return results

    def call(self, method: str, biz: dict[str, Any], **more: Any) -> dict[str, Any]:
        (result,) = self.run({"method": method, "biz": biz, **more})
        assert "response" in result, result
        response: dict[str, Any] = result["response"]
        return response


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(data_dir=tmp_path, database_url=database_url).start()
    yield process
    process.stop()


def register_app(server: ServerProcess, merchant_id: int, tmp_path: Path, *flags: str) -> FzleeApp:
    """`zhifu app create` and `zhifu app platform-key`, as an operator runs them."""
    key = new_key()
    key_file = tmp_path / f"app-{uuid.uuid4().hex[:6]}.pem"
    key_file.write_text(pkcs1_public_pem(key))
    where = {"database_url": server.database_url}
    made = cli(
        "app", "create", "--merchant", str(merchant_id), "--public-key", str(key_file), *flags,
        **where,
    )  # fmt: skip
    platform = cli("app", "platform-key", **where)["public_key"]
    return FzleeApp(server, made["app_id"], pkcs1_private_pem(key), platform)


def consumer_pays(server: ServerProcess, phone: str, trade_no: str) -> None:
    """The buyer signs in to zhifu's REST API and pays the trade with the PIN."""
    login = {"phone": phone, "password": "password-123"}
    token = httpx.post(f"{server.url}/v1/sessions", json=login).json()["token"]
    paid = httpx.post(
        f"{server.url}/v1/trades/{trade_no}/pay",
        json={"pin": PIN},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex},
    )
    assert paid.status_code == 200, paid.text


def refund(app: FzleeApp, ref: dict[str, str], amount: str, number: str) -> dict[str, Any]:
    biz = {**ref, "refund_amount": amount, "out_request_no": number}
    return app.call("alipay.trade.refund", biz)


async def test_precreate_pay_query_refund_cancel_with_the_sdk(
    server: ServerProcess, runtime: Runtime, tmp_path: Path
) -> None:
    shop = Shop(runtime)
    merchant = cli("merchant", "create", "--name", "SDK shop", database_url=server.database_url)
    app = register_app(server, merchant["id"], tmp_path)
    out_trade_no = f"T{uuid.uuid4().hex[:12]}"
    ref = {"out_trade_no": out_trade_no}
    order = {**ref, "total_amount": "100.00", "subject": "测试 QR order"}

    made = app.call("alipay.trade.precreate", order)
    assert made["code"] == "10000" and made["qr_code"]
    trade_no = app.call("alipay.trade.query", ref)["trade_no"]
    buyer = await runtime.users.get(await shop.consumer(balance=50_000))
    consumer_pays(server, buyer.phone, trade_no)
    paid = app.call("alipay.trade.query", ref)
    assert (paid["trade_status"], paid["receipt_amount"]) == ("TRADE_SUCCESS", "100.00")

    assert refund(app, ref, "30.00", "r1")["fund_change"] == "Y"
    assert refund(app, {"trade_no": trade_no}, "20.00", "r2")["refund_fee"] == "50.00"
    assert refund(app, ref, "30.00", "r1")["fund_change"] == "N"
    queried = app.call("alipay.trade.fastpay.refund.query", {**ref, "out_request_no": "r1"})
    assert (queried["refund_status"], queried["refund_amount"]) == ("REFUND_SUCCESS", "30.00")
    cancelled = app.call("alipay.trade.cancel", ref)
    assert cancelled["action"] == "refund"
    assert app.call("alipay.trade.query", ref)["trade_status"] == "TRADE_CLOSED"
    assert await shop.wallet_balance(buyer.id) == 50_000

    created = app.call("alipay.trade.create", {**order, "out_trade_no": out_trade_no + "c"})
    closed = app.call("alipay.trade.close", {"trade_no": created["trade_no"]})
    assert closed["code"] == "10000"


async def test_refusals_reach_the_sdk_signed_with_their_codes(
    server: ServerProcess, runtime: Runtime, tmp_path: Path
) -> None:
    where = {"database_url": server.database_url}
    app = register_app(server, cli("merchant", "create", "--name", "A", **where)["id"], tmp_path)
    other = register_app(server, cli("merchant", "create", "--name", "B", **where)["id"], tmp_path)
    order = {"out_trade_no": f"T{uuid.uuid4().hex[:12]}", "total_amount": "9.99", "subject": "x"}
    assert app.call("alipay.trade.precreate", order)["code"] == "10000"

    def refused(client: FzleeApp, method: str, biz: dict[str, Any], **more: Any) -> str:
        answer = client.call(method, biz, **more)
        return f"{answer['code']} {answer['sub_code']}"

    ref = {"out_trade_no": order["out_trade_no"]}
    assert refused(other, "alipay.trade.query", ref) == "40004 ACQ.TRADE_NOT_EXIST"
    malformed = {**order, "total_amount": "9.999"}
    assert refused(app, "alipay.trade.precreate", malformed) == "40002 isv.invalid-parameter"
    expired = refused(app, "alipay.trade.query", ref, clock_offset_s=-2 * 86400)
    assert expired == "40002 isv.invalid-timestamp"

    forged = app.variant(app_private_key=pkcs1_private_pem(new_key()))
    assert refused(forged, "alipay.trade.query", ref) == "40002 isv.invalid-signature"
    stranger = app.variant(app_id="2021999999999999")
    assert refused(stranger, "alipay.trade.query", ref) == "40002 isv.invalid-app-id"

    merchant_id = (await runtime.openplatform.apps.get(app.job["app_id"])).merchant_id
    key = new_key()
    limited = await runtime.openplatform.create_app(
        merchant_id, pkcs1_public_pem(key), methods=["alipay.trade.query"]
    )
    narrow = app.variant(app_id=limited.app_id, app_private_key=pkcs1_private_pem(key))
    denied = refused(narrow, "alipay.trade.refund", {**ref, "refund_amount": "1.00"})
    assert denied == "40006 isv.insufficient-isv-permissions"

    (unknown,) = app.run({"method": "alipay.trade.nonsense", "biz": {}})
    assert unknown == {"error": "AliPayException"}  # fzlee raises on error_response


def test_a_service_provider_acts_for_a_merchant_with_isvalipay(
    server: ServerProcess, tmp_path: Path
) -> None:
    """fzlee's ISVAliPay: exchange the merchant's app_auth_code, trade for the merchant
    with the token, query it, refresh it (the SDK sends the old token along)."""
    where = {"database_url": server.database_url}
    provider = cli("merchant", "create", "--name", "Provider", **where)
    isv = register_app(server, provider["id"], tmp_path, "--isv")
    seller = cli("merchant", "create", "--name", "Seller", **where)
    granted = httpx.post(
        f"{server.url}/v1/merchant/app-authorisations",
        json={"app_id": isv.job["app_id"]},
        headers={"Authorization": f"Bearer {seller['secret_key']}"},
    )
    assert granted.status_code == 201, granted.text

    with_code = isv.variant(app_auth_code=granted.json()["app_auth_code"])
    (exchanged,) = with_code.run({"helper": "api_alipay_open_auth_token_app"})
    issued = exchanged["response"]
    assert issued["user_id"] == f"2088{seller['id']:012d}"
    acting = isv.variant(app_auth_token=issued["app_auth_token"])
    ref = {"out_trade_no": f"T{uuid.uuid4().hex[:12]}"}
    made = acting.call("alipay.trade.precreate", {**ref, "total_amount": "9.90", "subject": "x"})
    assert made["code"] == "10000", made
    assert acting.call("alipay.trade.query", ref)["total_amount"] == "9.90"
    assert isv.call("alipay.trade.query", ref)["sub_code"] == "ACQ.TRADE_NOT_EXIST"

    status, refreshed = acting.run(
        {"helper": "api_alipay_open_auth_token_app_query"},
        {"helper": "api_alipay_open_auth_token_app", "args": [issued["app_refresh_token"]]},
    )
    assert status["response"]["status"] == "valid", status
    renewed = isv.variant(app_auth_token=refreshed["response"]["app_auth_token"])
    assert renewed.call("alipay.trade.query", ref)["total_amount"] == "9.90"
    old = acting.call("alipay.trade.query", ref)
    assert (old["code"], old["sub_code"]) == ("20001", "aop.invalid-app-auth-token")

    revoked = httpx.delete(
        f"{server.url}/v1/merchant/app-authorisations/{isv.job['app_id']}",
        headers={"Authorization": f"Bearer {seller['secret_key']}"},
    )
    assert revoked.status_code == 204, revoked.text
    after = renewed.call("alipay.trade.query", ref)
    assert (after["code"], after["sub_code"]) == ("20001", "aop.invalid-app-auth-token"), after
    assert "revoked" in after["sub_msg"]
