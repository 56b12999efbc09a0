"""The alipay.trade.* methods, each a thin mapping onto zhifu's payments services: the
gateway parses and answers in Alipay's terms, the payments engine does the work.

Differences from Alipay: `precreate` creates the trade at once (Alipay creates it when the
buyer scans), so `query` answers WAIT_BUYER_PAY instead of ACQ.TRADE_NOT_EXIST before
the scan. `timeout_express` takes minutes, hours or days (`90m`, `2h`, `1d`) or `1c`:
until the end of the day, midnight in Asia/Shanghai (Alipay's days are GMT+8 days).
Buyer ids are zhifu user ids in Alipay's 16-digit form: "2088" and 12 digits; beside
each goes the buyer's open id for the calling app (`buyer_open_id`, open_ids.py), and a
request may name a buyer by either. When a request gives both trade_no and
out_trade_no, trade_no wins, as in Alipay.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Any

from zhifu.clock import BUSINESS_TIMEZONE, Clock, business_day
from zhifu.identity import UserService
from zhifu.merchants import Merchant
from zhifu.openplatform import errors
from zhifu.openplatform.errors import GatewayError, invalid_parameter

# The field helpers live in fields.py; `x as x` keeps them importable from here too.
from zhifu.openplatform.fields import alipay_time as alipay_time
from zhifu.openplatform.fields import amount as amount
from zhifu.openplatform.fields import buyer_id as buyer_id
from zhifu.openplatform.fields import optional_text as optional_text
from zhifu.openplatform.fields import success as success
from zhifu.openplatform.fields import text as text
from zhifu.openplatform.fields import user_id_of
from zhifu.openplatform.fields import yuan as yuan
from zhifu.openplatform.gateway import Call, Handler
from zhifu.openplatform.open_ids import OpenIdNotFound, OpenIds
from zhifu.payments import DEFAULT_TIMEOUT, Payments, Trade, TradeExists, TradeState
from zhifu.payments.acquiring import Order

_TIMEOUT = re.compile(r"([1-9][0-9]{0,4})([mhd])")
_TIMEOUT_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
UNTIL_END_OF_DAY = "1c"
# A trade lives at least a minute (NewTrade's rule), even one made at 23:59:30 with `1c`.
_SHORTEST = timedelta(minutes=1)
_SCENES = ("bar_code", "wave_code")
# The trade method of a payment by payment code (payments/methods.py): paying such a
# trade again with its buyer's code is a terminal's retry, answered as the first time.
PAID_BY_CODE = "payment_code"


def _until_end_of_day(now: datetime) -> timedelta:
    midnight = datetime.combine(business_day(now) + timedelta(days=1), time(), BUSINESS_TIMEZONE)
    return max(midnight - now, _SHORTEST)


def timeout(biz: dict[str, Any], now: datetime) -> timedelta:
    value = optional_text(biz, "timeout_express")
    if value is None:
        return DEFAULT_TIMEOUT
    if value == UNTIL_END_OF_DAY:
        return _until_end_of_day(now)
    match = _TIMEOUT.fullmatch(value)
    if match is None:
        raise invalid_parameter(
            "timeout_express must be minutes, hours or days (90m, 2h, 1d), or 1c for today"
        )
    return timedelta(**{_TIMEOUT_UNITS[match.group(2)]: int(match.group(1))})


def _has_success() -> GatewayError:
    return GatewayError(
        errors.BUSINESS_FAILED, "ACQ.TRADE_HAS_SUCCESS", "this trade is already paid"
    )


def order(biz: dict[str, Any]) -> Order:
    return Order(
        out_trade_no=text(biz, "out_trade_no"),
        amount=amount(biz, "total_amount"),
        subject=text(biz, "subject"),
    )


def trade_ref(biz: dict[str, Any]) -> dict[str, str | None]:
    """The trade a request names: by trade_no when given (it wins, as in Alipay), else by
    out_trade_no."""
    trade_no = optional_text(biz, "trade_no")
    if trade_no is not None:
        return {"trade_no": trade_no, "out_trade_no": None}
    out_trade_no = optional_text(biz, "out_trade_no")
    if out_trade_no is None:
        raise invalid_parameter("give trade_no or out_trade_no")
    return {"trade_no": None, "out_trade_no": out_trade_no}


class TradeMethods:
    def __init__(
        self, payments: Payments, users: UserService, open_ids: OpenIds, clock: Clock
    ) -> None:
        self.payments = payments
        self.users = users
        self.open_ids = open_ids
        self.clock = clock

    def handlers(self) -> dict[str, Handler]:
        return {
            "alipay.trade.precreate": self.precreate,
            "alipay.trade.pay": self.pay,
            "alipay.trade.create": self.create,
            "alipay.trade.query": self.query,
            "alipay.trade.refund": self.refund,
            "alipay.trade.fastpay.refund.query": self.refund_query,
            "alipay.trade.close": self.close,
            "alipay.trade.cancel": self.cancel,
        }

    async def precreate(self, call: Call) -> dict[str, Any]:
        made = await self.payments.methods.precreate(
            await self._merchant(call),
            order(call.biz),
            expires_after=timeout(call.biz, self.clock.now()),
            notify_url=call.params.get("notify_url") or None,
        )
        return success(out_trade_no=made.trade.out_trade_no, qr_code=made.qr_payload)

    async def pay(self, call: Call) -> dict[str, Any]:
        """The merchant scanned the buyer's zhifu payment code (`auth_code`)."""
        if call.biz.get("scene") not in _SCENES:
            raise invalid_parameter("scene must be bar_code or wave_code")
        asked = order(call.biz)
        try:
            trade = await self.payments.methods.pay_with_code(
                await self._merchant(call), asked, text(call.biz, "auth_code")
            )
        except TradeExists:  # the out_trade_no names another buyer's or another order
            await self._refuse_if_paid(call, asked.out_trade_no)
            raise
        if trade.paid_at is not None and trade.method != PAID_BY_CODE:
            raise _has_success()  # paid already, by QR code or at the cashier
        fields = await self._trade_fields(call, trade)
        if trade.state == TradeState.WAIT_BUYER_PAY:  # above the password-free allowance
            waiting = errors.WAITING_FOR_BUYER
            return {"code": waiting, "msg": errors.MESSAGES[waiting], **fields}
        if trade.paid_at is None:
            raise GatewayError(errors.BUSINESS_FAILED, "ACQ.TRADE_HAS_CLOSE", "the trade is closed")
        return success(**fields, gmt_payment=fields["send_pay_date"])

    async def create(self, call: Call) -> dict[str, Any]:
        buyer = await self._buyer(call)
        if buyer is not None:
            await self.users.get(buyer)
        request = order(call.biz).trade(
            timeout=timeout(call.biz, self.clock.now()),
            notify_url=call.params.get("notify_url") or None,
            buyer_user_id=buyer,
        )
        trade = await self.payments.trades.create(await self._merchant(call), request)
        return success(out_trade_no=trade.out_trade_no, trade_no=trade.trade_no)

    async def query(self, call: Call) -> dict[str, Any]:
        return success(**await self._trade_fields(call, await self._trade(call)))

    async def refund(self, call: Call) -> dict[str, Any]:
        """fund_change is Y only for the call whose refund moved the money: of identical
        requests racing, the payments service lets one move it (under the trade's lock)
        and tells the others they replayed it."""
        trade = await self._trade(call)
        refund = await self.payments.refunds.refund(
            trade.merchant_id,
            trade_no=trade.trade_no,
            out_request_no=optional_text(call.biz, "out_request_no", max_length=64)
            or trade.out_trade_no,
            amount=amount(call.biz, "refund_amount"),
            reason=optional_text(call.biz, "refund_reason", max_length=256) or "",
        )
        after = await self.payments.trades.get(trade.merchant_id, trade_no=trade.trade_no)
        return success(
            trade_no=after.trade_no,
            out_trade_no=after.out_trade_no,
            **await self._buyer_fields(call, after),
            fund_change="N" if refund.replayed else "Y",
            refund_fee=yuan(after.refunded_amount, after.currency),
            send_back_fee=yuan(refund.amount, after.currency),
            gmt_refund_pay=alipay_time(refund.created_at),
        )

    async def refund_query(self, call: Call) -> dict[str, Any]:
        trade = await self._trade(call)
        out_request_no = text(call.biz, "out_request_no")
        refunds = await self.payments.refunds.list_refunds(trade.merchant_id, trade.trade_no)
        fields: dict[str, Any] = {
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "out_request_no": out_request_no,
        }
        for found in refunds:
            if found.out_request_no == out_request_no:
                fields |= {
                    "total_amount": yuan(trade.amount, trade.currency),
                    "refund_amount": yuan(found.amount, trade.currency),
                    "refund_status": "REFUND_SUCCESS",
                    "gmt_refund_pay": alipay_time(found.created_at),
                }
                if found.reason:
                    fields["refund_reason"] = found.reason
        return success(**fields)

    async def close(self, call: Call) -> dict[str, Any]:
        trade = await self.payments.lifecycle.close(call.merchant_id, **trade_ref(call.biz))
        return success(trade_no=trade.trade_no, out_trade_no=trade.out_trade_no)

    async def cancel(self, call: Call) -> dict[str, Any]:
        """Close if unpaid, refund in full if paid (the payments service decides)."""
        trade = await self.payments.refunds.cancel(call.merchant_id, **trade_ref(call.biz))
        fields = {"trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no}
        if trade.paid_at is None:
            return success(**fields, retry_flag="N", action="close")
        assert trade.closed_at is not None
        return success(
            **fields, retry_flag="N", action="refund", gmt_refund_pay=alipay_time(trade.closed_at)
        )

    # Shared parts.

    async def _refuse_if_paid(self, call: Call, out_trade_no: str) -> None:
        """Another payment of an out_trade_no already paid: Alipay's TRADE_HAS_SUCCESS."""
        trade = await self.payments.trades.get(call.merchant_id, out_trade_no=out_trade_no)
        if trade.paid_at is not None:
            raise _has_success()

    async def _merchant(self, call: Call) -> Merchant:
        return await self.payments.merchants.get(call.merchant_id)

    async def _trade(self, call: Call) -> Trade:
        return await self.payments.trades.get(call.merchant_id, **trade_ref(call.biz))

    async def _buyer(self, call: Call) -> int | None:
        """The buyer a request names by buyer_id (it wins) or by buyer_open_id."""
        user_id = optional_text(call.biz, "buyer_id")
        if user_id is not None:
            return user_id_of(user_id, "buyer_id")
        open_id = optional_text(call.biz, "buyer_open_id")
        if open_id is None:
            return None
        try:
            return await self.open_ids.user_of(call.app.app_id, open_id)
        except OpenIdNotFound:
            raise invalid_parameter("buyer_open_id is no user's open id for this app") from None

    async def _buyer_fields(self, call: Call, trade: Trade) -> dict[str, str]:
        if trade.buyer_user_id is None:
            return {}
        return {
            "buyer_logon_id": await self.users.masked_phone(trade.buyer_user_id),
            "buyer_user_id": buyer_id(trade.buyer_user_id),
            "buyer_open_id": await self.open_ids.of(call.app.app_id, trade.buyer_user_id),
        }

    async def _trade_fields(self, call: Call, trade: Trade) -> dict[str, Any]:
        paid = yuan(trade.amount if trade.paid_at else 0, trade.currency)
        fields: dict[str, Any] = {
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "trade_status": trade.state,
            "total_amount": yuan(trade.amount, trade.currency),
            "receipt_amount": paid,
            "buyer_pay_amount": paid,
            "invoice_amount": paid,
            "point_amount": "0.00",
            **await self._buyer_fields(call, trade),
        }
        if trade.paid_at is not None:
            fields["send_pay_date"] = alipay_time(trade.paid_at)
            fields["fund_bill_list"] = [{"fund_channel": "ALIPAYACCOUNT", "amount": paid}]
        return fields
