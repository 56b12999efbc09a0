"""Trades: search and filters, one trade with its history, and refunds in part or whole.

A refund is asked for on the trade's page (an amount, a reason), confirmed on a page of
its own, and made by RefundService.refund, the service behind the REST API's refunds.
The confirmation's form key is the refund's idempotency key and, prefixed, its
out_request_no, so a double submission of the confirmation refunds once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, Response

from zhifu.errors import ZhifuError
from zhifu.identity import mask_phone
from zhifu.inputs import MAX_ID
from zhifu.money import check_minor, format_decimal
from zhifu.payments import Refund, Trade, TradeNotFound
from zhifu.reporting import TradeQuery
from zhifu.web.kit.errors import REFUND_FIELDS, Errors, refusal
from zhifu.web.kit.forms import parse_amount
from zhifu.web.kit.i18n import N_
from zhifu.web.kit.session import new_form_key, see_other, valid_form_key
from zhifu.web.portal.common import (
    METHOD_NAMES,
    PREFIX,
    STATE_NAMES,
    FormField,
    PortalVisit,
    SignedIn,
    VisitDep,
    checked_form,
    form_expired,
    not_found,
    render,
)

router = APIRouter()

TradeNo = Annotated[str, Path(pattern=r"^[0-9]{1,32}$")]
PAGE = 25
REASON_MAX = 256


def trade_url(trade_no: str) -> str:
    return f"{PREFIX}/trades/{trade_no}"


# The list.


@dataclass(frozen=True)
class SearchForm:
    """The search form as typed (to show it again) and the query it makes."""

    text: str = ""
    state: str = ""
    method: str = ""
    since: str = ""
    until: str = ""

    def parse(self, visit: PortalVisit, before: int | None) -> tuple[TradeQuery, Errors]:
        errors: Errors = {}
        since = _day(self.since, "since", visit, errors)
        until = _day(self.until, "until", visit, errors)
        if since and until and since > until:
            errors["until"] = visit._("The last day cannot come before the first.")
        if self.state and self.state not in STATE_NAMES:
            errors["state"] = visit._("Choose a state from the list.")
        if self.method and self.method not in METHOD_NAMES:
            errors["method"] = visit._("Choose a way to pay from the list.")
        query = TradeQuery(
            text=self.text.strip() or None,
            state=self.state or None,
            method=self.method or None,
            since=since,
            until=until,
            before=before,
            limit=PAGE,
        )
        return query, errors


def _day(text: str, field: str, visit: PortalVisit, errors: Errors) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[field] = visit._("Enter a date such as 2026-01-31.")
        return None


@router.get("/trades", response_class=HTMLResponse)
async def list_trades(
    visit: VisitDep,
    user: SignedIn,
    q: Annotated[str, Query(max_length=256)] = "",
    state: Annotated[str, Query(max_length=32)] = "",
    method: Annotated[str, Query(max_length=32)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    before: Annotated[int | None, Query(gt=0, le=MAX_ID)] = None,
) -> Response:
    form = SearchForm(q, state, method, since, until)
    query, errors = form.parse(visit, before)
    trades: list[Trade] = []
    next_url = None
    if not errors:
        page = await visit.runtime.reporting.reports.search(visit.merchant.id, query)
        trades = page.trades
        if page.next_before is not None:
            older = visit.request.url.include_query_params(before=page.next_before)
            next_url = f"{older.path}?{older.query}"
    return render(
        visit,
        "trades.html",
        title=N_("Trades"),
        status=422 if errors else 200,
        errors=errors,
        form=form,
        state_options=[(state, visit._(name)) for state, name in STATE_NAMES.items()],
        method_options=[(method, visit._(name)) for method, name in METHOD_NAMES.items()],
        trades=trades,
        next_url=next_url,
        first_url=f"{PREFIX}/trades" if before else None,
    )


# One trade.


@dataclass(frozen=True)
class HistoryLine:
    at: datetime
    what: str
    amount: int | None = None


def history(visit: PortalVisit, trade: Trade, refunds: list[Refund]) -> list[HistoryLine]:
    """What happened to the trade, oldest first."""
    lines = [HistoryLine(trade.created_at, visit._("Created"), trade.amount)]
    if trade.paid_at:
        lines.append(HistoryLine(trade.paid_at, visit._("Paid"), trade.amount))
    for refund in refunds:
        what = visit._("Refunded")
        if refund.reason:
            what = f"{what}: {refund.reason}"
        lines.append(HistoryLine(refund.created_at, what, refund.amount))
    if trade.closed_at:
        reason = {
            "expired": visit._("Closed: expired unpaid"),
            "refunded": visit._("Closed: refunded in full"),
        }.get(trade.close_reason or "", visit._("Closed"))
        lines.append(HistoryLine(trade.closed_at, reason))
    if trade.finished_at:
        lines.append(HistoryLine(trade.finished_at, visit._("Finished: the refund window ended")))
    return sorted(lines, key=lambda line: line.at)


async def _trade(visit: PortalVisit, trade_no: str) -> Trade | None:
    try:
        return await visit.runtime.payments.trades.get(visit.merchant.id, trade_no=trade_no)
    except TradeNotFound:
        return None


async def trade_page(
    visit: PortalVisit,
    trade: Trade,
    *,
    errors: Errors | None = None,
    amount: str = "",
    reason: str = "",
    notice: str = "",
    status: int = 200,
) -> HTMLResponse:
    runtime = visit.runtime
    refunds = await runtime.payments.refunds.list_refunds(visit.merchant.id, trade.trade_no)
    buyer = None
    if trade.buyer_user_id is not None:
        buyer = mask_phone((await runtime.users.get(trade.buyer_user_id)).phone)
    store = None
    if trade.store_id is not None:
        store = (await runtime.payments.merchants.store(visit.merchant.id, trade.store_id))["name"]
    return render(
        visit,
        "trade.html",
        title=N_("Trade"),
        status=status,
        errors=errors,
        trade=trade,
        refunds=refunds,
        history=history(visit, trade, refunds),
        buyer=buyer,
        store=store,
        refundable=trade.refundable_amount,
        refundable_text=format_decimal(trade.refundable_amount, trade.currency),
        amount=amount,
        reason=reason,
        notice=notice,
    )


@router.get("/trades/{trade_no}", response_class=HTMLResponse)
async def show_trade(
    trade_no: TradeNo,
    visit: VisitDep,
    user: SignedIn,
    refunded: Annotated[int | None, Query(gt=0, le=MAX_ID)] = None,
) -> Response:
    trade = await _trade(visit, trade_no)
    if trade is None:
        return not_found(visit)
    notice = ""
    if refunded is not None:
        made = await visit.runtime.payments.refunds.list_refunds(visit.merchant.id, trade_no)
        for refund in made:
            if refund.id == refunded:
                notice = visit._("Refunded {amount} to the buyer.").format(
                    amount=visit.money(refund.amount, refund.currency)
                )
    return await trade_page(visit, trade, notice=notice)


# Refunding: the form, the confirmation, the refund.


def _refund_form(
    visit: PortalVisit, trade: Trade, amount: str, reason: str
) -> tuple[int | None, str, Errors]:
    value, errors = parse_amount(amount, trade.currency, visit._)
    reason = reason.strip()
    if len(reason) > REASON_MAX or not reason.isprintable():
        errors["reason"] = visit._("A reason has at most 256 characters, on one line.")
    left = trade.refundable_amount
    if value is not None and value > left and "amount" not in errors:
        errors["amount"] = visit._("At most {amount} is left to refund.").format(
            amount=visit.money(left, trade.currency)
        )
    return value, reason, errors


@router.post("/trades/{trade_no}/refund")
async def review_refund(
    trade_no: TradeNo,
    visit: VisitDep,
    user: SignedIn,
    _csrf: None = checked_form(lambda request: trade_url(request.path_params["trade_no"])),
    amount: FormField = "",
    reason: FormField = "",
) -> Response:
    """Check the refund form; show what will happen, with a fresh form key."""
    trade = await _trade(visit, trade_no)
    if trade is None:
        return not_found(visit)
    if trade.refundable_amount == 0:
        errors = {"form": visit._("This trade cannot be refunded now.")}
        return await trade_page(visit, trade, errors=errors, status=409)
    value, reason, errors = _refund_form(visit, trade, amount, reason)
    if value is None or errors:
        return await trade_page(
            visit, trade, errors=errors, amount=amount, reason=reason, status=422
        )
    return confirm_refund_page(visit, trade, value, reason)


def confirm_refund_page(
    visit: PortalVisit,
    trade: Trade,
    amount: int,
    reason: str,
    *,
    errors: Errors | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render(
        visit,
        "confirm_refund.html",
        title=N_("Confirm the refund"),
        status=status,
        errors=errors,
        trade=trade,
        amount=amount,
        amount_text=format_decimal(amount, trade.currency),
        full=amount == trade.refundable_amount,
        reason=reason,
        form_key=new_form_key(),
    )


@router.post("/trades/{trade_no}/refund/confirm")
async def refund(
    trade_no: TradeNo,
    visit: VisitDep,
    user: SignedIn,
    _csrf: None = checked_form(lambda request: trade_url(request.path_params["trade_no"])),
    form_key: FormField = "",
    amount: FormField = "",
    reason: FormField = "",
) -> Response:
    """Refund as confirmed. The same confirmation again finds its refund made (same
    idempotency key and out_request_no) and lands where the first did."""
    if not valid_form_key(form_key):
        return form_expired(visit, trade_url(trade_no))
    trade = await _trade(visit, trade_no)
    if trade is None:
        return not_found(visit)
    value, _ = parse_amount(amount, trade.currency, visit._)
    if value is None or len(reason) > REASON_MAX:
        return form_expired(visit, trade_url(trade_no))
    try:
        check_minor(value)
        made = await visit.runtime.payments.refunds.refund(
            visit.merchant.id,
            trade_no=trade_no,
            out_request_no=f"portal-{form_key}",
            amount=value,
            reason=reason,
            idempotency_key=f"portal:{form_key}",
        )
    except ZhifuError as error:
        trade = await _trade(visit, trade_no) or trade
        errors = refusal(error, visit._, REFUND_FIELDS, default="form")
        return await trade_page(
            visit, trade, errors=errors, amount=amount, reason=reason, status=error.status
        )
    return see_other(f"{trade_url(trade_no)}?refunded={made.id}")
