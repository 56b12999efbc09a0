"""The alipay.fund.trans.* methods: payouts from the merchant's balance to zhifu users,
a thin mapping onto payments' PayoutService.

`alipay.fund.trans.uni.transfer` pays at once (status SUCCESS) or is refused; a refusal
leaves nothing behind, so the same out_biz_no can be tried again after a top-up. Its
queries are `alipay.fund.trans.common.query` and the older `alipay.fund.trans.order.query`
(fzlee's `api_alipay_fund_trans_order_query`).

Payees: `ALIPAY_USER_ID` is a zhifu user id in Alipay's form (2088 + 12 digits);
`ALIPAY_OPEN_ID` the user's open id for the calling app (open_ids.py);
`ALIPAY_LOGON_ID` is the user's phone number. zhifu keeps no real names, so
`payee_info.name` is read but cannot be compared: PAYEE_USER_INFO_ERROR is never answered.

Alipay's fund methods answer business refusals with sub_codes without the `ACQ.` prefix
of the trade methods, and malformed business fields with `40004 INVALID_PARAMETER`.
"""

from __future__ import annotations

from typing import Any

from zhifu.errors import (
    BalanceCapExceeded,
    InvalidRequest,
    NotFound,
    RecipientNotFound,
    SandboxMismatch,
    ZhifuError,
)
from zhifu.identity import User, UserService
from zhifu.openplatform.errors import (
    BUSINESS_FAILED,
    UNAVAILABLE,
    GatewayError,
    invalid_parameter,
)
from zhifu.openplatform.fields import (
    alipay_time,
    amount,
    optional_text,
    success,
    text,
    user_id_of,
    yuan,
)
from zhifu.openplatform.gateway import Call, Handler
from zhifu.openplatform.open_ids import OpenIds
from zhifu.payments import (
    MerchantInsufficientFunds,
    NewPayout,
    Payments,
    Payout,
    PayoutExists,
    PayoutNotFound,
)

PRODUCT_CODE = "TRANS_ACCOUNT_NO_PWD"
BIZ_SCENE = "DIRECT_TRANSFER"
NAME_MAX = 100

# Most specific first: the first class the error is an instance of decides.
_FUND_CODES: tuple[tuple[type[ZhifuError], str], ...] = (
    (PayoutExists, "PAYMENT_INFO_INCONSISTENCY"),
    (PayoutNotFound, "ORDER_NOT_EXIST"),
    (RecipientNotFound, "PAYEE_NOT_EXIST"),
    (MerchantInsufficientFunds, "PAYER_BALANCE_NOT_ENOUGH"),
    # The payee's KYC tier caps their balance ("the payee must complete their identity").
    (BalanceCapExceeded, "PERMIT_NON_BANK_LIMIT_PAYEE"),
    # A live merchant's payee is a live user, a sandbox merchant's a sandbox user.
    (SandboxMismatch, "PAYEE_NOT_EXIST"),
    (InvalidRequest, "INVALID_PARAMETER"),
)


def fund_error(error: ZhifuError) -> GatewayError:
    """A domain error in the fund methods' terms; anything unlisted is a retryable
    SYSTEM_ERROR (the payout did not happen: retry with the same out_biz_no)."""
    for kind, sub_code in _FUND_CODES:
        if isinstance(error, kind):
            return GatewayError(BUSINESS_FAILED, sub_code, error.message)
    return GatewayError(UNAVAILABLE, "SYSTEM_ERROR", error.message)


def in_fund_terms(handler: Handler) -> Handler:
    """The handler, its refusals told in the fund methods' sub_codes."""

    async def answer(call: Call) -> dict[str, Any]:
        try:
            return await handler(call)
        except GatewayError as error:
            if error.sub_code != "isv.invalid-parameter":
                raise
            raise GatewayError(BUSINESS_FAILED, "INVALID_PARAMETER", error.sub_msg) from None
        except ZhifuError as error:
            raise fund_error(error) from None

    return answer


def _fixed(biz: dict[str, Any], name: str, value: str, *, required: bool) -> None:
    given = optional_text(biz, name)
    if (given is None and required) or given not in (None, value):
        raise invalid_parameter(f"{name} must be {value}")


def _payee_info(biz: dict[str, Any]) -> dict[str, Any]:
    info = biz.get("payee_info")
    if not isinstance(info, dict):
        raise invalid_parameter("payee_info is required: identity and identity_type")
    name = info.get("name")
    if name is not None and (
        not isinstance(name, str) or len(name) > NAME_MAX or not name.isprintable()
    ):
        raise invalid_parameter(f"payee_info.name has at most {NAME_MAX} printable characters")
    return info


IDENTITY_TYPES = ("ALIPAY_USER_ID", "ALIPAY_OPEN_ID", "ALIPAY_LOGON_ID")


class FundMethods:
    def __init__(self, payments: Payments, users: UserService, open_ids: OpenIds) -> None:
        self.payments = payments
        self.users = users
        self.open_ids = open_ids

    def handlers(self) -> dict[str, Handler]:
        return {
            "alipay.fund.trans.uni.transfer": in_fund_terms(self.transfer),
            "alipay.fund.trans.common.query": in_fund_terms(self.query),
            "alipay.fund.trans.order.query": in_fund_terms(self.order_query),
        }

    async def transfer(self, call: Call) -> dict[str, Any]:
        biz = call.biz
        _fixed(biz, "product_code", PRODUCT_CODE, required=True)
        _fixed(biz, "biz_scene", BIZ_SCENE, required=False)
        out_biz_no, trans_amount = text(biz, "out_biz_no"), amount(biz, "trans_amount")
        payee = await self._payee(call, _payee_info(biz))
        request = NewPayout(
            out_biz_no=out_biz_no,
            user_id=payee.id,
            amount=trans_amount,
            title=optional_text(biz, "order_title") or "",
            remark=optional_text(biz, "remark") or "",
        )
        payout = await self.payments.payouts.pay(call.merchant_id, request)
        return success(
            out_biz_no=payout.out_biz_no,
            order_id=payout.order_id,
            pay_fund_order_id=payout.pay_fund_order_id,
            status=payout.status,
            trans_date=alipay_time(payout.created_at),
        )

    async def query(self, call: Call) -> dict[str, Any]:
        payout = await self._payout(call)
        return success(
            order_id=payout.order_id,
            pay_fund_order_id=payout.pay_fund_order_id,
            out_biz_no=payout.out_biz_no,
            trans_amount=yuan(payout.amount, payout.currency),
            status=payout.status,
            pay_date=alipay_time(payout.created_at),
            arrival_time_end=alipay_time(payout.created_at),
            order_fee="0.00",
        )

    async def order_query(self, call: Call) -> dict[str, Any]:
        """The older query: the same payout, in the older answer's fields."""
        payout = await self._payout(call)
        return success(
            order_id=payout.order_id,
            out_biz_no=payout.out_biz_no,
            status=payout.status,
            pay_date=alipay_time(payout.created_at),
            arrival_time_end=alipay_time(payout.created_at),
            order_fee="0.00",
        )

    async def _payee(self, call: Call, info: dict[str, Any]) -> User:
        identity, kind = text(info, "identity"), text(info, "identity_type")
        if kind not in IDENTITY_TYPES:
            raise invalid_parameter(f"payee_info.identity_type must be {', '.join(IDENTITY_TYPES)}")
        try:
            if kind == "ALIPAY_USER_ID":
                return await self.users.get(user_id_of(identity, "payee_info.identity"))
            if kind == "ALIPAY_OPEN_ID":
                return await self.users.get(await self.open_ids.user_of(call.app.app_id, identity))
            return await self.users.by_phone(identity)
        except (NotFound, InvalidRequest):
            raise RecipientNotFound("no zhifu user has this identity") from None

    async def _payout(self, call: Call) -> Payout:
        """By order_id when given (it wins, as in Alipay), else by out_biz_no."""
        order_id = optional_text(call.biz, "order_id")
        out_biz_no = None if order_id else optional_text(call.biz, "out_biz_no")
        if order_id is None and out_biz_no is None:
            raise invalid_parameter("give out_biz_no or order_id")
        return await self.payments.payouts.get(
            call.merchant_id, out_biz_no=out_biz_no, order_id=order_id
        )
