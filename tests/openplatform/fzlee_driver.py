"""Drive zhifu's gateway with the unmodified PyPI `python-alipay-sdk` (fzlee).

Runs under the SDK's own interpreter (never zhifu's venv: the two Alipay SDKs share the
package name `alipay`). Reads a JSON job from stdin:
    {"gateway", "app_id", "app_private_key", "alipay_public_key",
     "calls": [{"method", "biz", "clock_offset_s"}]}
and prints one JSON result per call: {"response": {...}} or {"error": "<class name>"}.
`clock_offset_s` moves the client's clock (the SDK reads `datetime.now()`), to send an
expired timestamp without touching the SDK's code.
"""

import datetime
import json
import sys

import alipay
from alipay import AliPay


class _ShiftedClock(datetime.datetime):
    offset = datetime.timedelta()

    @classmethod
    def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
        return datetime.datetime.now(tz) + cls.offset


def run_call(client: AliPay, call: dict) -> dict:  # type: ignore[type-arg]
    _ShiftedClock.offset = datetime.timedelta(seconds=call.get("clock_offset_s", 0))
    try:
        return {"response": client.server_api(call["method"], call["biz"])}
    except Exception as error:  # the SDK's refusals are what the test checks
        return {"error": type(error).__name__}


def main() -> None:
    job = json.load(sys.stdin)
    alipay.datetime = _ShiftedClock  # the module's own `from datetime import datetime`
    client = AliPay(
        appid=job["app_id"],
        app_notify_url=None,
        app_private_key_string=job["app_private_key"],
        alipay_public_key_string=job["alipay_public_key"],
        sign_type="RSA2",
    )
    client._gateway = job["gateway"]  # the documented way to point fzlee at a gateway
    json.dump([run_call(client, call) for call in job["calls"]], sys.stdout)


if __name__ == "__main__":
    main()
