"""Certificate mode with an unmodified SDK: a real `zhifu serve`, certificates exported
with `zhifu app certs`, and fzlee's `DCAliPay` configured with them (it computes the SNs
itself and checks every answer with the key in zhifu's platform certificate).

Needs python-alipay-sdk in its own venv (`make .venv-alipay-fzlee/.installed`, then
ZHIFU_FZLEE_PYTHON, see test_sdk_fzlee.py); without it the test skips.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

from tests.e2e.harness import ServerProcess, cli
from tests.openplatform.alipay_client import new_key, pkcs1_private_pem, pkcs1_public_pem
from tests.openplatform.test_sdk_fzlee import SDK_PYTHON, pytestmark, server

__all__ = ["pytestmark", "server"]  # the SDK check and the server fixture, shared
DRIVER = Path(__file__).with_name("fzlee_cert_driver.py")


def run_dcalipay(job: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [SDK_PYTHON, str(DRIVER)], input=json.dumps(job), capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_dcalipay_trades_in_certificate_mode(server: ServerProcess, tmp_path: Path) -> None:
    where = {"database_url": server.database_url}
    merchant = cli("merchant", "create", "--name", "Cert shop", **where)
    key = new_key()
    (tmp_path / "app.pem").write_text(pkcs1_public_pem(key))
    app_id = cli("app", "create", "--merchant", str(merchant["id"]), "--public-key",
                 str(tmp_path / "app.pem"), **where)["app_id"]  # fmt: skip
    out = tmp_path / "certs"
    exported = cli("app", "certs", app_id, "--out", str(out), **where)
    out_trade_no = f"T{uuid.uuid4().hex[:12]}"
    order = {"out_trade_no": out_trade_no, "total_amount": "9.90", "subject": "证书模式"}
    job = {
        "gateway": f"{server.url}/gateway.do",
        "app_id": app_id,
        "app_private_key": pkcs1_private_pem(key),
        "app_cert": (out / f"appCertPublicKey_{app_id}.crt").read_text(),
        "alipay_cert": (out / "alipayCertPublicKey_RSA2.crt").read_text(),
        "root_cert": (out / "alipayRootCert.crt").read_text(),
        "calls": [
            {"method": "alipay.trade.precreate", "biz": order},
            {"method": "alipay.trade.query", "biz": {"out_trade_no": out_trade_no}},
            {"method": "alipay.trade.close", "biz": {"out_trade_no": out_trade_no}},
        ],
    }
    done = run_dcalipay(job)
    assert done["sns"] == {
        "app_cert_sn": exported["app_cert_sn"],
        "alipay_root_cert_sn": exported["alipay_root_cert_sn"],
    }
    made, queried, closed = (result["response"] for result in done["results"])
    assert made["code"] == "10000" and made["qr_code"]
    assert (queried["code"], queried["trade_status"]) == ("10000", "WAIT_BUYER_PAY")
    assert closed["code"] == "10000"

    # Another app's certificate: the SDK sends its SN, zhifu refuses it (signed answer).
    other_key = new_key()
    (tmp_path / "other.pem").write_text(pkcs1_public_pem(other_key))
    other = cli("app", "create", "--merchant", str(merchant["id"]), "--public-key",
                str(tmp_path / "other.pem"), **where)["app_id"]  # fmt: skip
    cli("app", "certs", other, "--out", str(tmp_path / "other"), **where)
    foreign = (tmp_path / "other" / f"appCertPublicKey_{other}.crt").read_text()
    refused = run_dcalipay({**job, "app_cert": foreign, "calls": job["calls"][1:2]})
    (answer,) = (result["response"] for result in refused["results"])
    assert (answer["code"], answer["sub_code"]) == ("40002", "isv.invalid-app-cert-sn")

    # A client holding some other "alipay" certificate cannot verify zhifu's answers.
    impostor = run_dcalipay({**job, "alipay_cert": foreign, "calls": job["calls"][1:2]})
    assert impostor["results"] == [{"error": "AliPayValidationError"}]
