"""The cashier: type an amount and what it is for, show the customer a QR code, see the
payment arrive.

Creating a sale is PaymentMethods.precreate, the service behind the REST API's
precreate, with the form's key as the order number (`cashier-<key>`), so a double
submission makes one trade. The sale's page draws the trade's QR code on the server
(zhifu.web.kit.codes) and prints the code's text beside it. Its status panel is a fragment
of its own (`/cashier/{trade_no}/status`): static/merchant.js fetches it every 1.5 s and
swaps it in until the sale is paid or closed; without JavaScript the panel's "Check
again" link reloads the page.
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse, Response

from zhifu.errors import InvalidStateTransition, ZhifuError
from zhifu.identity import mask_phone
from zhifu.payments import Trade, TradeNotFound
from zhifu.payments.acquiring import Order
from zhifu.web.kit import codes, pages
from zhifu.web.kit.errors import Errors, refusal
from zhifu.web.kit.forms import parse_amount, required
from zhifu.web.kit.i18n import N_
from zhifu.web.kit.session import new_form_key, see_other, valid_form_key
from zhifu.web.portal.common import (
    PREFIX,
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
CASHIER = f"{PREFIX}/cashier"
SUBJECT_MAX = 256
POLL_MILLISECONDS = 1500
QR_SCALE = 6


def sale_url(trade_no: str) -> str:
    return f"{CASHIER}/{trade_no}"


async def cashier_page(
    visit: PortalVisit,
    *,
    errors: Errors | None = None,
    amount: str = "",
    subject: str = "",
    store: str = "",
    status: int = 200,
) -> HTMLResponse:
    stores = await visit.runtime.payments.merchants.stores(visit.merchant.id)
    return render(
        visit,
        "cashier.html",
        title=N_("Cashier"),
        status=status,
        errors=errors,
        amount=amount,
        subject=subject,
        store=store,
        stores=[(str(s["id"]), s["name"]) for s in stores],
        form_key=new_form_key(),
    )


@router.get("/cashier", response_class=HTMLResponse)
async def show_cashier(
    visit: VisitDep,
    user: SignedIn,
) -> Response:
    return await cashier_page(visit)


def _store_id(store: str, errors: Errors, visit: PortalVisit) -> int | None:
    if not store:
        return None
    if not store.isdigit() or len(store) > 18:
        errors["store"] = visit._("Choose a store from the list.")
        return None
    return int(store)


@router.post("/cashier")
async def new_sale(
    visit: VisitDep,
    user: SignedIn,
    _csrf: None = checked_form(CASHIER),
    form_key: FormField = "",
    amount: FormField = "",
    subject: FormField = "",
    store: FormField = "",
) -> Response:
    if not valid_form_key(form_key):
        return form_expired(visit, CASHIER)
    value, errors = parse_amount(amount, "CNY", visit._)
    subject = required(subject, "subject", visit._("Say what the customer pays for."), errors)
    if len(subject) > SUBJECT_MAX or not subject.isprintable():
        errors["subject"] = visit._("At most 256 characters, on one line.")
    store_id = _store_id(store, errors, visit)
    if value is None or errors:
        return await cashier_page(
            visit, errors=errors, amount=amount, subject=subject, store=store, status=422
        )
    order = Order(out_trade_no=f"cashier-{form_key}", amount=value, subject=subject,
                  store_id=store_id)  # fmt: skip
    try:
        made = await visit.runtime.payments.methods.precreate(visit.merchant, order)
    except ZhifuError as error:
        errors = refusal(error, visit._, {"not_found": "store"}, default="form")
        return await cashier_page(
            visit, errors=errors, amount=amount, subject=subject, store=store, status=error.status
        )
    return see_other(sale_url(made.trade.trade_no))


async def _trade(visit: PortalVisit, trade_no: str) -> Trade | None:
    try:
        return await visit.runtime.payments.trades.get(visit.merchant.id, trade_no=trade_no)
    except TradeNotFound:
        return None


async def sale_context(visit: PortalVisit, trade: Trade) -> dict[str, Any]:
    """What the status panel shows: the code while it can be paid, else the outcome."""
    runtime = visit.runtime
    waiting = trade.payable(runtime.clock.now())
    payload = await runtime.payments.methods.trade_qr(visit.merchant, trade.trade_no)
    buyer = None
    if trade.buyer_user_id is not None and trade.paid_at is not None:
        buyer = mask_phone((await runtime.users.get(trade.buyer_user_id)).phone)
    return {
        "trade": trade,
        "waiting": waiting,
        "paid": trade.paid_at is not None,
        "payload": payload,
        "qr": codes.qr_svg(payload, scale=QR_SCALE) if waiting else "",
        "buyer": buyer,
        "status_url": f"{sale_url(trade.trade_no)}/status",
        "sale_url": sale_url(trade.trade_no),
    }


@router.get("/cashier/{trade_no}", response_class=HTMLResponse)
async def show_sale(
    trade_no: TradeNo,
    visit: VisitDep,
    user: SignedIn,
) -> Response:
    trade = await _trade(visit, trade_no)
    if trade is None:
        return not_found(visit)
    context = await sale_context(visit, trade)
    return render(
        visit,
        "sale.html",
        title=N_("Sale"),
        poll_ms=POLL_MILLISECONDS,
        **context,
    )


@router.get("/cashier/{trade_no}/status", response_class=HTMLResponse)
async def sale_status(trade_no: TradeNo, visit: VisitDep) -> Response:
    """The status panel alone, for the page's script to swap in."""
    if visit.user is None:
        return Response(status_code=401)
    trade = await _trade(visit, trade_no)
    if trade is None:
        return Response(status_code=404)
    context = await sale_context(visit, trade)
    return pages.render(
        visit,
        "merchant/_sale_status.html",
        title="",
        forms=False,
        **context,
    )


@router.post("/cashier/{trade_no}/close")
async def close_sale(
    trade_no: TradeNo,
    visit: VisitDep,
    user: SignedIn,
    _csrf: None = checked_form(lambda request: sale_url(request.path_params["trade_no"])),
) -> Response:
    """Call off a sale the customer has not paid: its code can no longer be paid."""
    if await _trade(visit, trade_no) is None:
        return not_found(visit)
    with contextlib.suppress(InvalidStateTransition):  # paid or closed meanwhile: shown
        await visit.runtime.payments.lifecycle.close(visit.merchant.id, trade_no=trade_no)
    return see_other(sale_url(trade_no))
