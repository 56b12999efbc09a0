"""fzlee's `python-alipay-sdk` on the merchant's web side: signing a page/wap pay order
for the buyer's browser, and verifying notifications and return parameters.

Runs under the SDK's own interpreter (see fzlee_driver.py). Reads a JSON job from stdin:
    {"app_id", "app_private_key", "alipay_public_key",
     "steps": [{"page_pay": {"subject", "out_trade_no", "total_amount", "return_url",
                             "notify_url", ...}}
               | {"wap_pay": {...}}
               | {"verify": {<the received fields, sign included>}}]}
(the job may name the app's "sign_type", RSA2 by default) and prints one result per
step: the signed query string of an order (to append to `gateway.do?`), or whether the
fields verify (the merchant pops `sign` and hands the rest to `AliPay.verify`, as
fzlee's docs show).
"""

import json
import sys

from alipay import AliPay


def run_step(client: AliPay, step: dict) -> object:  # type: ignore[type-arg]
    if "page_pay" in step:
        return client.api_alipay_trade_page_pay(**step["page_pay"])
    if "wap_pay" in step:
        return client.api_alipay_trade_wap_pay(**step["wap_pay"])
    data = dict(step["verify"])
    signature = data.pop("sign")
    return client.verify(data, signature)


def main() -> None:
    job = json.load(sys.stdin)
    client = AliPay(
        appid=job["app_id"],
        app_notify_url=None,
        app_private_key_string=job["app_private_key"],
        alipay_public_key_string=job["alipay_public_key"],
        sign_type=job.get("sign_type", "RSA2"),
    )
    json.dump([run_step(client, step) for step in job["steps"]], sys.stdout)


if __name__ == "__main__":
    main()
