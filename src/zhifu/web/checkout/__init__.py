"""The hosted checkout (cashier) page: a consumer signs in, picks how to pay, pays.

    GET  /checkout/{trade_no}         the trade (merchant, subject, amount) and a sign-in
                                      form, the payment form, or where the payment stands
    POST /checkout/{trade_no}/login   phone + password: a session, then back to the page
    POST /checkout/{trade_no}/pay     source (wallet | card:<id>) + PIN: 303 to the trade's
                                      return_url with out_trade_no, trade_no, total_amount
                                      and state, or a success page if it has none
    POST /checkout/{trade_no}/logout

The session is the token of UserService.login in the cookie `zhifu_session` (HttpOnly,
SameSite=Lax, Path=/checkout; Secure when the request came over https, so behind a TLS
proxy run uvicorn with --proxy-headers). Every form carries a CSRF token (zhifu.web.kit.csrf);
a missing or wrong one is refused with 403. A double submission pays once: the second
finds the trade paid by the same buyer and lands where the first did.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from zhifu.errors import RateLimited, SignInLocked, Unauthorized, ZhifuError
from zhifu.identity import Card, User
from zhifu.money import format_decimal
from zhifu.payments import Trade, TradeClosed, TradeExpired, TradeNotFound, TradePaid, TradeState
from zhifu.runtime import Runtime
from zhifu.web.kit import errors as error_texts
from zhifu.web.kit import pages, session, signin
from zhifu.web.kit.deps import RuntimeDep, csrf_checked
from zhifu.web.kit.forms import PayForm
from zhifu.web.kit.session import see_other

router = APIRouter(prefix="/checkout", tags=["checkout"], include_in_schema=False)

COOKIE_PATH = "/checkout"
# The checkout's pages are in English only for now.
SPACE = session.CookieSpace(path=COOKIE_PATH, session_cookie="zhifu_session", locales=("en",))
PENDING_REFRESH_SECONDS = 3
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")

FormField = Annotated[str, Form()]


# Who is visiting: the signed-in consumer and the browser's CSRF nonce.


@dataclass(frozen=True, kw_only=True)
class Visit(session.Visit):
    runtime: Runtime
    user: User | None


async def current_visit(request: Request, runtime: RuntimeDep) -> Visit:
    user = await session.signed_in_consumer(runtime.users, SPACE.session_token(request))
    return Visit.of(request, SPACE, runtime=runtime, user=user)


VisitDep = Annotated[Visit, Depends(current_visit)]


# Responses.


def page_url(trade_no: str) -> str:
    return f"{COOKIE_PATH}/{quote(trade_no, safe='')}"


def _origin(url: str | None) -> list[str]:
    """The origin of a URL as a CSP source, if it is a plain one."""
    if not url:
        return []
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"
    return [origin] if _ORIGIN.fullmatch(origin) else []


def render(
    visit: Visit, template: str, *, title: str, status: int = 200, **context: Any
) -> HTMLResponse:
    """A checkout page. Forms post here and may be redirected on to the merchant's
    return URL, which CSP form-action must allow; no scripts."""
    trade: Trade | None = context.get("trade")
    context.setdefault("trade", None)
    context.setdefault("refresh_seconds", 0)
    form_targets = _origin(trade.return_url if trade else None)
    return pages.render(
        visit,
        f"checkout/{template}",
        title=title,
        status=status,
        form_targets=form_targets,
        **context,
    )


def status_page(
    visit: Visit, heading: str, message: str, *, status: int, **context: Any
) -> HTMLResponse:
    context = {"link_url": None, "link_text": "", **context}
    return render(
        visit,
        "status.html",
        title=heading,
        status=status,
        heading=heading,
        message=message,
        **context,
    )


def not_found(visit: Visit) -> HTMLResponse:
    return status_page(
        visit,
        "Payment not found",
        "This payment does not exist, or it is not yours. Check the link the shop gave you.",
        status=404,
    )


def forbidden(visit: Visit, trade_no: str) -> HTMLResponse:
    return status_page(
        visit,
        "Your form expired",
        "For your safety the form could not be accepted. Open the payment again and retry.",
        status=403,
        link_url=page_url(trade_no),
        link_text="Open the payment again",
    )


def checked_form() -> Any:
    """The form's CSRF token checked; else "your form expired", back to the payment."""
    return csrf_checked(
        current_visit, lambda visit, request: forbidden(visit, request.path_params["trade_no"])
    )


# What a consumer sees of a trade.


async def _trade(runtime: Runtime, trade_no: str) -> Trade | None:
    try:
        return await runtime.payments.trades.by_trade_no(trade_no)
    except TradeNotFound:
        return None


async def _merchant_name(runtime: Runtime, trade: Trade) -> str:
    return (await runtime.payments.merchants.get(trade.merchant_id)).name


def _open_to_anyone(trade: Trade, now: datetime) -> bool:
    return trade.payable(now) and trade.buyer_user_id is None


async def return_location(runtime: Runtime, trade: Trade) -> str | None:
    """The merchant's return URL with what the payment came to in its query: Alipay's
    signed return parameters for a trade opened through the gateway's cashier."""
    if not trade.return_url:
        return None
    alipay = await runtime.openplatform.cashier.return_location(trade)
    if alipay is not None:
        return alipay
    parts = urlsplit(trade.return_url)
    query = [
        *parse_qsl(parts.query, keep_blank_values=True),
        ("out_trade_no", trade.out_trade_no),
        ("trade_no", trade.trade_no),
        ("total_amount", format_decimal(trade.amount, trade.currency)),
        ("state", trade.state),
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))


async def login_page(
    visit: Visit,
    trade: Trade,
    *,
    errors: dict[str, str] | None = None,
    phone: str = "",
    status: int = 200,
) -> HTMLResponse:
    show_summary = _open_to_anyone(trade, visit.runtime.clock.now())
    return render(
        visit,
        "login.html",
        title="Sign in to pay",
        status=status,
        trade=trade if show_summary else None,
        merchant_name=await _merchant_name(visit.runtime, trade) if show_summary else "",
        show_summary=show_summary,
        page_url=page_url(trade.trade_no),
        errors=errors or {},
        phone=phone,
    )


async def done_page(visit: Visit, trade: Trade) -> HTMLResponse:
    return render(
        visit,
        "done.html",
        title="Payment complete",
        trade=trade,
        merchant_name=await _merchant_name(visit.runtime, trade),
        return_location=await return_location(visit.runtime, trade),
    )


async def finished(visit: Visit, trade: Trade) -> Response:
    """Where a paid trade sends its buyer: the merchant's return URL, or a success page."""
    location = await return_location(visit.runtime, trade)
    return see_other(location) if location else await done_page(visit, trade)


async def closed_page(visit: Visit, trade: Trade, status: int) -> HTMLResponse:
    expired = trade.close_reason == "expired" or trade.state == TradeState.WAIT_BUYER_PAY
    return status_page(
        visit,
        "This payment has expired" if expired else "This payment is closed",
        "Nothing was charged for it. Go back to the shop to order again.",
        status=status,
        trade=trade,
        merchant_name=await _merchant_name(visit.runtime, trade),
    )


async def pending_page(visit: Visit, trade: Trade) -> HTMLResponse:
    return status_page(
        visit,
        "Waiting for your bank",
        "Your bank is confirming the card payment. This page checks again by itself.",
        status=200,
        trade=trade,
        merchant_name=await _merchant_name(visit.runtime, trade),
        refresh_seconds=PENDING_REFRESH_SECONDS,
        link_url=page_url(trade.trade_no),
        link_text="Check now",
    )


def _suggested_source(trade: Trade, balance: int, cards: list[Card]) -> str:
    """The wallet if it can pay, else the first linked card."""
    return "wallet" if balance >= trade.amount or not cards else f"card:{cards[0].id}"


async def pay_page(
    visit: Visit, trade: Trade, form: PayForm, *, status: int = 200, notice: str = ""
) -> HTMLResponse:
    runtime, user = visit.runtime, visit.user
    assert user is not None
    balance = (await runtime.transfers.balance(user.id, trade.currency)).available
    cards = await runtime.cards.list(user.id)
    return render(
        visit,
        "pay.html",
        title="Pay",
        status=status,
        trade=trade,
        merchant_name=await _merchant_name(runtime, trade),
        masked_phone=user.masked_phone,
        balance=balance,
        cards=cards,
        source=form.source or _suggested_source(trade, balance, cards),
        errors=form.errors,
        notice=notice,
        page_url=page_url(trade.trade_no),
    )


async def page_for(
    visit: Visit, trade: Trade, form: PayForm | None = None, status: int = 200
) -> Response:
    """What the signed-in consumer sees of the trade as it stands."""
    runtime, user = visit.runtime, visit.user
    assert user is not None
    if trade.buyer_user_id not in (None, user.id):
        return not_found(visit)
    if trade.paid:
        return await done_page(visit, trade)
    if trade.state == TradeState.TRADE_CLOSED or trade.expires_at <= runtime.clock.now():
        return await closed_page(visit, trade, status)
    latest = await runtime.payments.cards.latest(trade.trade_no, user.id)
    if latest is not None and latest.charging:
        return await pending_page(visit, trade)
    error = latest.error() if latest is not None and form is None else None
    notice = (
        error_texts.sentence(error.message)
        if error and error.code == "card_charged_to_wallet"
        else ""
    )
    return await pay_page(visit, trade, form or PayForm(), status=status, notice=notice)


def error_message(error: ZhifuError) -> str:
    """A refusal in the checkout's words (zhifu.web.kit.error_texts.CHECKOUT)."""
    return error_texts.error_message(error, str, error_texts.CHECKOUT, own_words=True)


async def after_refusal(visit: Visit, trade_no: str, form: PayForm, error: ZhifuError) -> Response:
    """The page after a payment was refused: the trade as it now stands, with the reason
    next to its field. (A trade this buyer already paid, as on a double submission, is
    no refusal: Payments.paying.pay_trade returns it and the buyer lands where the first went.)"""
    trade = await _trade(visit.runtime, trade_no)
    if trade is None or isinstance(error, TradeNotFound):
        return not_found(visit)
    if isinstance(error, TradePaid | TradeClosed | TradeExpired):
        return await page_for(visit, trade, status=error.status)
    refused = {error_texts.PAY_FIELDS.get(error.code, "form"): error_message(error)}
    return await page_for(visit, trade, PayForm(form.source, errors=refused), status=error.status)


# Routes.


@router.get("/{trade_no}", response_class=HTMLResponse)
async def show(trade_no: str, visit: VisitDep) -> Response:
    trade = await _trade(visit.runtime, trade_no)
    if trade is None:
        return not_found(visit)
    if visit.user is None:
        return await login_page(visit, trade)
    return await page_for(visit, trade)


@router.post("/{trade_no}/login")
async def login(
    trade_no: str,
    visit: VisitDep,
    _csrf: None = checked_form(),
    phone: FormField = "",
    password: FormField = "",
) -> Response:
    trade = await _trade(visit.runtime, trade_no)
    if trade is None:
        return not_found(visit)
    errors = _login_errors(phone, password)
    if errors:
        return await login_page(visit, trade, errors=errors, phone=phone, status=422)
    try:
        signed_in = await visit.runtime.users.login(phone, password, client=visit.client_address)
    except (Unauthorized, SignInLocked, RateLimited) as error:
        errors = signin.refused(error, str, "Wrong phone number or password.")
        return await login_page(visit, trade, errors=errors, phone=phone, status=error.status)
    now = visit.runtime.clock.now()
    return signin.signed_in(visit, signed_in.token, signed_in.expires_at, now, page_url(trade_no))


def _login_errors(phone: str, password: str) -> dict[str, str]:
    errors = {}
    if not phone.strip():
        errors["phone"] = "Enter your phone number."
    if not password:
        errors["password"] = "Enter your password."
    return errors


@router.post("/{trade_no}/pay")
async def pay(
    trade_no: str,
    visit: VisitDep,
    _csrf: None = checked_form(),
    source: FormField = "",
    pin: FormField = "",
) -> Response:
    if visit.user is None:
        return see_other(page_url(trade_no))
    trade = await _trade(visit.runtime, trade_no)
    if trade is None:
        return not_found(visit)
    form = PayForm.parse(source, pin)
    if form.errors:
        return await page_for(visit, trade, form, status=422)
    try:
        result = await visit.runtime.payments.paying.pay_trade(
            trade_no,
            visit.user.id,
            funding=form.funding,
            card_id=form.card_id,
            pin=form.pin or None,
            method="checkout",
        )
    except ZhifuError as error:
        return await after_refusal(visit, trade_no, form, error)
    if result.status == "pending":
        return see_other(page_url(trade_no))
    return await finished(visit, result.trade)


@router.post("/{trade_no}/logout")
async def logout(trade_no: str, visit: VisitDep, _csrf: None = checked_form()) -> Response:
    if visit.session_token:
        await visit.runtime.users.logout(visit.session_token)
    response = see_other(page_url(trade_no))
    visit.end_session(response)
    return response
