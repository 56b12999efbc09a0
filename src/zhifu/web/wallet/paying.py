"""Paying shops: scan a merchant's QR code, show my payment code, my trades and escrow.

Scanning reads the code's text (pasted, or decoded on the server from an uploaded
picture) with PaymentMethods.scan. A dynamic code names a trade: its page shows the
merchant and amount and pays with the PIN through Payments.paying.pay_trade, whose
idempotency key is the trade itself (a trade the buyer already paid is returned, not paid
again). A static code asks for the amount, then a confirmation whose form key is the
idempotency key of PaymentMethods.pay_static. A pasted checkout link opens the hosted checkout.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Path, UploadFile
from fastapi.responses import HTMLResponse, Response

from zhifu.errors import ZhifuError
from zhifu.identity import User
from zhifu.money import format_decimal
from zhifu.payments import Trade, TradeNotFound
from zhifu.payments.acquiring import CODE_STEP_SECONDS, PaymentCodesExhausted, Scanned
from zhifu.web.kit import codes
from zhifu.web.kit.errors import MESSAGES, PAY_FIELDS, Errors, picture_problem, refusal
from zhifu.web.kit.forms import PayForm, parse_amount
from zhifu.web.kit.i18n import N_
from zhifu.web.kit.session import see_other, valid_form_key
from zhifu.web.wallet.common import (
    PREFIX,
    Confirmation,
    FormField,
    SignedIn,
    VisitDep,
    WalletVisit,
    checked_form,
    confirm_page,
    form_expired,
    message_page,
    not_found,
    render,
    sources,
)

router = APIRouter()

TradeNo = Annotated[str, Path(pattern=r"^[0-9]{1,32}$")]
PENDING_REFRESH_SECONDS = 3
ESCROW_LIST = 100
_CHECKOUT_LINK = re.compile(r"(?:https?://[^/\s]+)?/checkout/([0-9]{1,32})/?")
# Escrow steps the buyer may take, by the escrow state they start from.


# Scanning.


def scan_page(
    visit: WalletVisit, *, errors: Errors | None = None, payload: str = "", status: int = 200
) -> HTMLResponse:
    return render(
        visit, "scan.html", title=N_("Scan to pay"), status=status, errors=errors, payload=payload
    )


@router.get("/scan", response_class=HTMLResponse)
async def show_scan(
    visit: VisitDep,
    user: SignedIn,
) -> Response:
    return scan_page(visit)


async def _payload(payload: str, picture: UploadFile | None) -> str:
    """The code's text: decoded from the picture when one was chosen, else as pasted."""
    if picture is not None and picture.filename:
        image = await picture.read(codes.MAX_IMAGE_BYTES + 1)
        return await asyncio.to_thread(codes.read_qr, image)
    return payload.strip()


# The largest body of POST /scan (api.app): a picture of a QR code
# (codes.MAX_IMAGE_BYTES) and the form around it.
SCAN_MAX_BODY_BYTES = 8 * 1024 * 1024


@router.post("/scan")
async def scan(
    visit: VisitDep,
    user: SignedIn,
    _csrf: None = checked_form(f"{PREFIX}/scan"),
    payload: FormField = "",
    picture: Annotated[UploadFile | None, File()] = None,
) -> Response:
    try:
        text = await _payload(payload, picture)
    except ZhifuError as error:
        return scan_page(visit, errors={"picture": picture_problem(error, visit._)}, status=422)
    if not text:
        errors = {"payload": visit._("Paste the code's text, or choose a picture of it.")}
        return scan_page(visit, errors=errors, status=422)
    if link := _CHECKOUT_LINK.fullmatch(text):
        return see_other(f"/checkout/{link.group(1)}")
    try:
        scanned = await visit.runtime.payments.methods.scan(user.id, text)
    except ZhifuError as error:
        fields = {"trade_not_found": "payload", "not_found": "payload"}
        return scan_page(visit, errors=refusal(error, visit._, fields), payload=text, status=422)
    if scanned.trade is not None:
        return see_other(trade_url(scanned.trade.trade_no))
    return static_page(visit, scanned, text)


def _store_name(scanned: Scanned) -> str:
    name = scanned.merchant.name
    return f"{name} · {scanned.subject}" if scanned.subject != name else name


def static_page(
    visit: WalletVisit,
    scanned: Scanned,
    payload: str,
    *,
    amount: str = "",
    errors: Errors | None = None,
    status: int = 200,
) -> HTMLResponse:
    """A store's code: the payer types the amount."""
    return render(
        visit, "scan_amount.html", title=N_("Scan to pay"), status=status, errors=errors,
        payee=_store_name(scanned), currency=scanned.currency, payload=payload, amount=amount,
    )  # fmt: skip


def static_confirmation(
    visit: WalletVisit, scanned: Scanned, payload: str, amount: int
) -> Confirmation:
    money = visit.money(amount, scanned.currency)
    return Confirmation(
        heading=visit._("Pay {payee}").format(payee=_store_name(scanned)),
        action=f"{PREFIX}/scan/pay",
        facts=[(visit._("Pay to"), _store_name(scanned)), (visit._("Amount"), money),
               (visit._("From"), visit._("Wallet balance"))],
        fields={"payload": payload, "amount": format_decimal(amount, scanned.currency)},
        button=visit._("Pay {amount}").format(amount=money),
        back_url=f"{PREFIX}/scan",
        pin=True,
    )  # fmt: skip


async def _scanned_store(visit: WalletVisit, user: User, payload: str) -> Scanned | None:
    try:
        scanned = await visit.runtime.payments.methods.scan(user.id, payload)
    except ZhifuError:
        return None
    return scanned if scanned.trade is None else None


@router.post("/scan/amount")
async def review_static(
    visit: VisitDep,
    user: SignedIn,
    _csrf: None = checked_form(f"{PREFIX}/scan"),
    payload: FormField = "",
    amount: FormField = "",
) -> Response:
    scanned = await _scanned_store(visit, user, payload)
    if scanned is None:
        return form_expired(visit, f"{PREFIX}/scan")
    value, errors = parse_amount(amount, scanned.currency, visit._)
    if value is None:
        return static_page(visit, scanned, payload, amount=amount, errors=errors, status=422)
    return confirm_page(visit, static_confirmation(visit, scanned, payload, value))


@router.post("/scan/pay")
async def pay_static(
    visit: VisitDep,
    user: SignedIn,
    _csrf: None = checked_form(f"{PREFIX}/scan"),
    form_key: FormField = "",
    payload: FormField = "",
    amount: FormField = "",
    pin: FormField = "",
) -> Response:
    scanned = await _scanned_store(visit, user, payload)
    if scanned is None or not valid_form_key(form_key):
        return form_expired(visit, f"{PREFIX}/scan")
    value, _ = parse_amount(amount, scanned.currency, visit._)
    if value is None:
        return form_expired(visit, f"{PREFIX}/scan")
    try:
        trade = await visit.runtime.payments.methods.pay_static(
            user.id, payload, value, idempotency_key=f"wallet:{form_key}", pin=pin or None
        )
    except ZhifuError as error:
        confirmation = static_confirmation(visit, scanned, payload, value)
        errors = refusal(error, visit._)
        return confirm_page(visit, confirmation, errors=errors, status=error.status)
    return see_other(trade_url(trade.trade_no))


# A trade of mine (or one waiting for a buyer, as scanning shows it).


def trade_url(trade_no: str) -> str:
    return f"{PREFIX}/trades/{trade_no}"


async def _trade(visit: WalletVisit, user: User, trade_no: str) -> Trade | None:
    try:
        return await visit.runtime.payments.methods.buyer_trade(user.id, trade_no)
    except TradeNotFound:
        return None


async def trade_page(
    visit: WalletVisit,
    user: User,
    trade: Trade,
    *,
    source: str = "wallet",
    errors: Errors | None = None,
    status: int = 200,
) -> HTMLResponse:
    runtime = visit.runtime
    merchant = await runtime.payments.merchants.get(trade.merchant_id)
    payable = trade.payable(runtime.clock.now())
    latest = await runtime.payments.cards.latest(trade.trade_no, user.id)
    charging = latest is not None and latest.charging
    choices = await sources(visit, user, trade.currency) if payable and not charging else []
    return render(
        visit, "trade.html", title=N_("Payment"), status=status, errors=errors,
        trade=trade, merchant=merchant, payable=payable and not charging, charging=charging,
        sources=choices, source=source,
        can_confirm=trade.buyer_can_confirm(user.id),
        can_ask_refund=trade.buyer_can_ask_refund(user.id),
        refresh_seconds=PENDING_REFRESH_SECONDS if charging else 0,
    )  # fmt: skip


@router.get("/trades/{trade_no}", response_class=HTMLResponse)
async def show_trade(
    trade_no: TradeNo,
    visit: VisitDep,
    user: SignedIn,
) -> Response:
    trade = await _trade(visit, user, trade_no)
    if trade is None:
        return not_found(visit)
    return await trade_page(visit, user, trade)


@router.post("/trades/{trade_no}/pay")
async def pay_trade(
    trade_no: TradeNo,
    visit: VisitDep,
    user: SignedIn,
    _csrf: None = checked_form(lambda request: trade_url(request.path_params["trade_no"])),
    source: FormField = "",
    pin: FormField = "",
) -> Response:
    trade = await _trade(visit, user, trade_no)
    if trade is None:
        return not_found(visit)
    form = PayForm.parse(source, pin)
    if form.errors:
        errors = {name: visit._(message) for name, message in form.errors.items()}
        return await trade_page(visit, user, trade, source=source, errors=errors, status=422)
    try:
        await visit.runtime.payments.paying.pay_trade(
            trade_no, user.id, funding=form.funding, card_id=form.card_id,
            pin=form.pin or None, method="qr",
        )  # fmt: skip
    except ZhifuError as error:
        trade = await _trade(visit, user, trade_no)
        if trade is None:
            return not_found(visit)
        errors = refusal(error, visit._, PAY_FIELDS)
        return await trade_page(
            visit, user, trade, source=source, errors=errors, status=error.status
        )
    return see_other(trade_url(trade_no))


# Guaranteed (escrow) trades: confirm receipt, or ask for the money back.


@router.get("/escrow", response_class=HTMLResponse)
async def escrow_list(
    visit: VisitDep,
    user: SignedIn,
) -> Response:
    trades = await visit.runtime.payments.trades.list_for_buyer(user.id, ESCROW_LIST)
    guaranteed = [trade for trade in trades if trade.escrow and trade.paid_at is not None]
    merchants = {}
    for trade in guaranteed:
        if trade.merchant_id not in merchants:
            merchants[trade.merchant_id] = await visit.runtime.payments.merchants.get(
                trade.merchant_id
            )
    return render(
        visit, "escrow.html", title=N_("Guaranteed orders"), trades=guaranteed, merchants=merchants
    )


ESCROW_STEPS = {
    "confirm-receipt": (Trade.buyer_can_confirm, N_("Confirm you received the goods"),
                        N_("Confirm receipt"), N_("The seller is paid. This cannot be undone.")),
    "refund-request": (Trade.buyer_can_ask_refund, N_("Ask for a refund"), N_("Ask for a refund"),
                       N_("The seller agrees or refuses; a refusal goes to zhifu to decide.")),
}  # fmt: skip


def escrow_confirmation(visit: WalletVisit, trade: Trade, step: str, merchant: str) -> Confirmation:
    _, heading, button, notice = ESCROW_STEPS[step]
    return Confirmation(
        heading=visit._(heading),
        action=f"{trade_url(trade.trade_no)}/{step}",
        facts=[(visit._("Seller"), merchant), (visit._("Order"), trade.subject),
               (visit._("Amount"), visit.money(trade.amount, trade.currency))],
        fields={},
        button=visit._(button),
        back_url=trade_url(trade.trade_no),
        notice=visit._(notice),
    )  # fmt: skip


async def _escrow_trade(visit: WalletVisit, user: User, trade_no: str, step: str) -> Trade | None:
    trade = await _trade(visit, user, trade_no)
    allowed = ESCROW_STEPS[step][0]
    if trade is None or not allowed(trade, user.id):
        return None
    return trade


@router.get("/trades/{trade_no}/{step}", response_class=HTMLResponse)
async def review_escrow_step(
    trade_no: TradeNo,
    step: str,
    visit: VisitDep,
    user: SignedIn,
) -> Response:
    if step not in ESCROW_STEPS:
        return not_found(visit)
    trade = await _escrow_trade(visit, user, trade_no, step)
    if trade is None:
        return message_page(
            visit, N_("Nothing to do"), N_("This order cannot take this step now."), status=409,
            link_url=trade_url(trade_no), link_text=N_("Back to the order"),
        )  # fmt: skip
    merchant = await visit.runtime.payments.merchants.get(trade.merchant_id)
    return confirm_page(visit, escrow_confirmation(visit, trade, step, merchant.name))


@router.post("/trades/{trade_no}/{step}")
async def take_escrow_step(
    trade_no: TradeNo,
    step: str,
    visit: VisitDep,
    user: SignedIn,
    _csrf: None = checked_form(lambda request: trade_url(request.path_params["trade_no"])),
    form_key: FormField = "",
) -> Response:
    if step not in ESCROW_STEPS:
        return not_found(visit)
    if not valid_form_key(form_key):
        return form_expired(visit, trade_url(trade_no))
    escrow, key = visit.runtime.payments.escrow, f"wallet:{form_key}"
    try:
        if step == "confirm-receipt":
            await escrow.confirm(user.id, trade_no, key=key)
        else:
            await escrow.request_refund(user.id, trade_no, key=key)
    except TradeNotFound:
        return not_found(visit)
    except ZhifuError as error:
        return message_page(
            visit, N_("Nothing to do"), N_("This order cannot take this step now."),
            status=error.status, link_url=trade_url(trade_no), link_text=N_("Back to the order"),
        )  # fmt: skip
    return see_other(trade_url(trade_no))


# My payment code.


def seconds_to_next_code(now: datetime) -> int:
    """Until the next time step, when the page fetches a fresh code."""
    into_step = int(now.timestamp()) % CODE_STEP_SECONDS
    return max(CODE_STEP_SECONDS - into_step, 1)


@router.get("/paycode", response_class=HTMLResponse)
async def show_paycode(
    visit: VisitDep,
    user: SignedIn,
) -> Response:
    runtime = visit.runtime
    try:
        code = await runtime.payments.devices.current_code(user.id)
    except PaymentCodesExhausted as error:
        return message_page(
            visit, N_("Payment code"), MESSAGES[error.code], status=429,
            link_url=f"{PREFIX}/paycode", link_text=N_("Try again"),
        )  # fmt: skip
    waiting = await runtime.payments.methods.awaiting_buyer(user.id, limit=5)
    return render(
        visit, "paycode.html", title=N_("Payment code"), code=code,
        barcode=codes.barcode_svg(code.code), qr=codes.qr_svg(code.code, scale=6),
        refresh_seconds=seconds_to_next_code(runtime.clock.now()), waiting=waiting,
        grouped=" ".join(code.code[i : i + 4] for i in range(0, len(code.code), 4)),
    )  # fmt: skip
