"""Signing up, signing in and out, and the home page (balance, recent activity)."""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from zhifu.errors import (
    CurrentPinRequired,
    RateLimited,
    SignInLocked,
    Unauthorized,
    ZhifuError,
)
from zhifu.identity import Session
from zhifu.identity.credentials import check_pin
from zhifu.web.kit import signin
from zhifu.web.kit.errors import Errors, refusal
from zhifu.web.kit.forms import required
from zhifu.web.kit.i18n import N_
from zhifu.web.kit.session import new_form_key, see_other, valid_form_key
from zhifu.web.wallet.common import (
    HOME,
    PREFIX,
    SIGN_IN,
    FormField,
    SignedIn,
    VisitDep,
    WalletVisit,
    checked_form,
    form_expired,
    named_kinds,
    render,
)

router = APIRouter()

RECENT = 5
Next = Annotated[str | None, Query(max_length=2000)]


def _next(target: str | None) -> str:
    return signin.back_to(target, HOME)


def signed_in(visit: WalletVisit, session: Session, target: str) -> Response:
    now = visit.runtime.clock.now()
    return signin.signed_in(visit, session.token, session.expires_at, now, target)


def login_page(
    visit: WalletVisit, *, errors: Errors | None = None, phone: str = "", target: str = HOME,
    status: int = 200,
) -> HTMLResponse:  # fmt: skip
    return render(
        visit, "login.html", title=N_("Sign in"), status=status, errors=errors, phone=phone,
        next=target,
    )  # fmt: skip


@router.get("/login", response_class=HTMLResponse)
async def show_login(visit: VisitDep, next: Next = None) -> Response:
    if visit.user is not None:
        return see_other(_next(next))
    return login_page(visit, target=_next(next))


@router.post("/login")
async def login(
    visit: VisitDep,
    _csrf: None = checked_form(SIGN_IN),
    phone: FormField = "",
    password: FormField = "",
    next: FormField = "",
) -> Response:
    target = _next(next)
    errors: Errors = {}
    phone = required(phone, "phone", visit._("Enter your phone number."), errors)
    if not password:
        errors["password"] = visit._("Enter your password.")
    if errors:
        return login_page(visit, errors=errors, phone=phone, target=target, status=422)
    try:
        session = await visit.runtime.users.login(phone, password, client=visit.client_address)
    except (Unauthorized, SignInLocked, RateLimited) as error:
        errors = signin.refused(error, visit._, visit._("Wrong phone number or password."))
        return login_page(visit, errors=errors, phone=phone, target=target, status=error.status)
    return signed_in(visit, session, target)


def signup_page(
    visit: WalletVisit, *, errors: Errors | None = None, phone: str = "", status: int = 200
) -> HTMLResponse:
    return render(
        visit, "signup.html", title=N_("Create your wallet"), status=status, errors=errors,
        phone=phone, form_key=new_form_key(),
    )  # fmt: skip


@router.get("/signup", response_class=HTMLResponse)
async def show_signup(visit: VisitDep) -> Response:
    if visit.user is not None:
        return see_other(HOME)
    return signup_page(visit)


def _signup_errors(visit: WalletVisit, phone: str, password: str, pin: str, pin2: str) -> Errors:
    errors: Errors = {}
    required(phone, "phone", visit._("Enter your phone number."), errors)
    if not 8 <= len(password) <= 128:
        errors["password"] = visit._("A password has 8 to 128 characters.")
    if not (len(pin) == 6 and pin.isdigit()):
        errors["pin"] = visit._("Your payment PIN is 6 digits.")
    elif pin2 != pin:
        errors["pin_again"] = visit._("The two PINs are not the same.")
    return errors


@router.post("/signup")
async def signup(
    visit: VisitDep,
    _csrf: None = checked_form(f"{PREFIX}/signup"),
    phone: FormField = "",
    password: FormField = "",
    pin: FormField = "",
    pin_again: FormField = "",
    form_key: FormField = "",
) -> Response:
    """Register, set the payment PIN, sign in: one form. The PIN's rules are checked
    before the account exists, so a refused PIN leaves no half-made account; the form's
    key makes a double submission one sign-up."""
    if not valid_form_key(form_key):
        return form_expired(visit, f"{PREFIX}/signup")
    errors = _signup_errors(visit, phone, password, pin, pin_again)
    if errors:
        return signup_page(visit, errors=errors, phone=phone, status=422)
    users = visit.runtime.users
    try:
        check_pin(pin)
        user = await users.signup(phone, password, idempotency_key=f"wallet:{form_key}")
        if not user.has_pin:
            with contextlib.suppress(CurrentPinRequired):  # its twin submission set it
                await users.set_pin(user.id, pin)
        session = await users.login(phone, password, client=visit.client_address)
    except ZhifuError as error:
        fields = {"invalid_pin": "pin"}
        errors = refusal(error, visit._, fields)
        return signup_page(visit, errors=errors, phone=phone, status=error.status)
    return signed_in(visit, session, HOME)


@router.post("/logout")
async def logout(
    visit: VisitDep,
    _csrf: None = checked_form(),
) -> Response:
    if visit.session_token:
        await visit.runtime.users.logout(visit.session_token)
    response = see_other(SIGN_IN)
    visit.end_session(response)
    return response


@router.get("/", response_class=HTMLResponse)
async def home(
    visit: VisitDep,
    user: SignedIn,
) -> Response:
    runtime = visit.runtime
    balances = await runtime.transfers.balances(user.id)
    recent = await runtime.transfers.statement(user.id, "CNY", RECENT)
    waiting = await runtime.payments.methods.awaiting_buyer(user.id, limit=5)
    return render(
        visit, "home.html", title=N_("Your wallet"), balances=balances,
        recent=named_kinds(visit, recent),
        waiting=waiting, limits=user.limits,
    )  # fmt: skip
