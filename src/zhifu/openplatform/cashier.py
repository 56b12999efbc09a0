"""alipay.trade.page.pay, alipay.trade.wap.pay and alipay.trade.app.pay: zhifu's hosted
cashier.

These methods are no server-to-server call: the merchant's SDK signs the order and the
buyer's browser brings it to /gateway.do (fzlee: a query string the merchant appends to
`gateway.do?`; the official SDK: an auto-submitting form, or a GET URL). The request is
checked like every other (signature, app, timestamp, permission), then makes a
WAIT_BUYER_PAY trade (the same out_trade_no again opens the same trade; with another
amount or subject it is refused, ACQ.CONTEXT_INCONSISTENT) carrying the request's
notify_url and return_url, and the browser is sent to the hosted checkout of that trade,
where the buyer signs in and pays with the PIN. The router answers refusals with an error
page naming the sub_code.

Once paid, the checkout sends the buyer to return_url with Alipay's signed return
parameters (`return_location`): method `<method>.return`, app_id, auth_app_id, charset,
out_trade_no, trade_no, total_amount, seller_id, timestamp, version, sign_type, sign,
signed by the notify rule over every query parameter (the merchant's own ones in its
return_url too, so an SDK verifying the whole query succeeds).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from zhifu.clock import Clock
from zhifu.openplatform.apps import AppService
from zhifu.openplatform.errors import invalid_parameter
from zhifu.openplatform.fields import BEIJING, alipay_time, optional_text, success, text, yuan
from zhifu.openplatform.gateway import Call, Handler
from zhifu.openplatform.keys import PlatformKeys
from zhifu.openplatform.notify import seller_id, signed_for_app
from zhifu.openplatform.origins import TradeOrigins
from zhifu.openplatform.trade_methods import order, timeout
from zhifu.payments import Payments, Trade

# Each method's product codes: QUICK_WAP_WAY is Alipay's, fzlee's helper sends QUICK_WAP_PAY.
PRODUCT_CODES: dict[str, tuple[str, ...]] = {
    "alipay.trade.page.pay": ("FAST_INSTANT_TRADE_PAY",),
    "alipay.trade.wap.pay": ("QUICK_WAP_WAY", "QUICK_WAP_PAY"),
    "alipay.trade.app.pay": ("QUICK_MSECURITY_PAY",),
}
CASHIER_METHODS = frozenset(PRODUCT_CODES)
TIME_EXPIRE_FORMAT = "%Y-%m-%d %H:%M:%S"


def serves(method: str) -> bool:
    """Whether the method is answered with the cashier (a page), not with JSON."""
    return method in CASHIER_METHODS


def _product_code(call: Call) -> str:
    method, product = call.params["method"], text(call.biz, "product_code")
    allowed = PRODUCT_CODES[method]
    if product not in allowed:
        raise invalid_parameter(f"product_code must be {' or '.join(allowed)} for {method}")
    return product


class Cashier:
    def __init__(
        self,
        payments: Payments,
        origins: TradeOrigins,
        apps: AppService,
        keys: PlatformKeys,
        clock: Clock,
    ) -> None:
        self.payments = payments
        self.apps = apps
        self.origins = origins
        self.keys = keys
        self.clock = clock

    def handlers(self) -> dict[str, Handler]:
        return dict.fromkeys(CASHIER_METHODS, self.open)

    async def open(self, call: Call) -> dict[str, Any]:
        """Make (or find again) the waiting trade of the order; its trade_no tells the
        router which checkout to send the browser to."""
        _product_code(call)
        merchant = await self.payments.merchants.get(call.merchant_id)
        request = order(call.biz).trade(
            timeout=self._expiry(call.biz),
            notify_url=call.params.get("notify_url") or None,
            return_url=call.params.get("return_url") or None,
            method="checkout",
        )
        trade = await self.payments.trades.create(merchant, request)
        return success(
            out_trade_no=trade.out_trade_no,
            trade_no=trade.trade_no,
            total_amount=yuan(trade.amount, trade.currency),
            seller_id=seller_id(trade.merchant_id),
        )

    def _expiry(self, biz: dict[str, Any]) -> timedelta:
        """time_expire (an absolute Beijing time) wins over timeout_express."""
        value = optional_text(biz, "time_expire")
        if value is None:
            return timeout(biz, self.clock.now())
        try:
            moment = datetime.strptime(value, TIME_EXPIRE_FORMAT).replace(tzinfo=BEIJING)
        except ValueError:
            raise invalid_parameter("time_expire must be yyyy-MM-dd HH:mm:ss") from None
        return moment - self.clock.now()

    async def return_location(self, trade: Trade) -> str | None:
        """Where the checkout sends the buyer of a paid cashier trade: its return_url
        with Alipay's signed return parameters. None when the trade did not come from
        the cashier or has no return_url (the checkout then does what it always does)."""
        if not trade.return_url:
            return None
        origin = await self.origins.get(trade.merchant_id, trade.out_trade_no)
        if origin is None or not serves(origin.method):
            return None
        parts = urlsplit(trade.return_url)
        returned = {
            "method": f"{origin.method}.return",
            "app_id": origin.app_id,
            "auth_app_id": origin.auth_app_id,
            "charset": "utf-8",
            "out_trade_no": trade.out_trade_no,
            "trade_no": trade.trade_no,
            "total_amount": yuan(trade.amount, trade.currency),
            "seller_id": seller_id(trade.merchant_id),
            "timestamp": alipay_time(self.clock.now()),
            "version": "1.0",
        }
        own = [(k, v) for k, v in parse_qsl(parts.query) if k not in returned and k != "sign"]
        app = await self.apps.get(origin.app_id)
        signed = await signed_for_app(self.keys, app, {**dict(own), **returned})
        return urlunsplit(parts._replace(query=urlencode(signed)))
