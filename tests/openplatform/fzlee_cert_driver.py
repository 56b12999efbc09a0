"""Drive zhifu's gateway with fzlee's `DCAliPay` (python-alipay-sdk 3.4.0, public-key
certificate mode), unmodified, under the SDK's own interpreter. Reads a JSON job from
stdin: {"gateway", "app_id", "app_private_key", "app_cert", "alipay_cert", "root_cert",
"calls": [{"method", "biz"}]}; prints one result per call, {"response": {...}} or
{"error": "<class name>"}, and {"sns": {...}}: the SNs the SDK computed and sends.
"""

import json
import sys

from alipay import DCAliPay


def main() -> None:
    job = json.load(sys.stdin)
    client = DCAliPay(
        appid=job["app_id"],
        app_private_key_string=job["app_private_key"],
        app_public_key_cert_string=job["app_cert"],
        alipay_public_key_cert_string=job["alipay_cert"],
        alipay_root_cert_string=job["root_cert"],
    )
    client._gateway = job["gateway"]  # the documented way to point fzlee at a gateway
    results = []
    for call in job["calls"]:
        try:
            results.append({"response": client.server_api(call["method"], call["biz"])})
        except Exception as error:  # the SDK's refusals are what the test checks
            results.append({"error": type(error).__name__})
    sns = {"app_cert_sn": client.app_cert_sn, "alipay_root_cert_sn": client.alipay_root_cert_sn}
    json.dump({"results": results, "sns": sns}, sys.stdout)


if __name__ == "__main__":
    main()
