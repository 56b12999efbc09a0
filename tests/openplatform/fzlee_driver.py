"""Drive zhifu's gateway with the unmodified PyPI `python-alipay-sdk` (fzlee).

Runs under the SDK's own interpreter (never zhifu's venv: the two Alipay SDKs share the
package name `alipay`). Reads a JSON job from stdin:
    {"gateway", "app_id", "app_private_key", "alipay_public_key",
     "calls": [{"method", "biz", "clock_offset_s"}]  or  "clients": [[call, ...], ...]}
and prints one JSON result per call: {"response": {...}} or {"error": "<class name>"}.
`clients` runs each list in a thread of its own with its own AliPay client, all started
together, and prints a list of results per client (see sdk_threads.py).
`clock_offset_s` moves the client's clock (the SDK reads `datetime.now()`), to send an
expired timestamp without touching the SDK's code.
With "app_auth_code" or "app_auth_token" in the job the client is the SDK's ISVAliPay; a
call {"helper": name, "args": [...]} runs one of the SDK's own methods by name.
"""

import datetime
import json
import sys

import alipay
from alipay import AliPay, ISVAliPay
from sdk_threads import run_job


class _ShiftedClock(datetime.datetime):
    offset = datetime.timedelta()

    @classmethod
    def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
        return datetime.datetime.now(tz) + cls.offset


def run_call(client: AliPay, call: dict) -> dict:  # type: ignore[type-arg]
    _ShiftedClock.offset = datetime.timedelta(seconds=call.get("clock_offset_s", 0))
    try:
        if "helper" in call:
            return {"response": getattr(client, call["helper"])(*call.get("args", []))}
        return {"response": client.server_api(call["method"], call["biz"])}
    except Exception as error:  # the SDK's refusals are what the test checks
        return {"error": type(error).__name__}


def make_client(job: dict) -> AliPay:  # type: ignore[type-arg]
    isv = {name: job[name] for name in ("app_auth_code", "app_auth_token") if name in job}
    client = (ISVAliPay if isv else AliPay)(
        appid=job["app_id"],
        app_notify_url=None,
        app_private_key_string=job["app_private_key"],
        alipay_public_key_string=job["alipay_public_key"],
        sign_type="RSA2",
        **isv,
    )
    client._gateway = job["gateway"]  # the documented way to point fzlee at a gateway
    return client


def main() -> None:
    job = json.load(sys.stdin)
    alipay.datetime = _ShiftedClock  # the module's own `from datetime import datetime`
    json.dump(run_job(job, lambda: make_client(job), run_call), sys.stdout)


if __name__ == "__main__":
    main()
