"""Signing in and out, and the dashboard: today's takings, the last 30 days as a chart,
balances and the latest trades."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from zhifu.errors import RateLimited, SignInLocked, Unauthorized
from zhifu.reporting import TradeQuery
from zhifu.web.kit import signin
from zhifu.web.kit.charts import bar_chart
from zhifu.web.kit.errors import Errors
from zhifu.web.kit.forms import required
from zhifu.web.kit.i18n import N_
from zhifu.web.kit.session import see_other
from zhifu.web.portal.common import (
    HOME,
    SIGN_IN,
    FormField,
    PortalVisit,
    SignedIn,
    VisitDep,
    checked_form,
    render,
)

router = APIRouter()

CHART_DAYS = 30
RECENT = 5
Next = Annotated[str | None, Query(max_length=2000)]


def _next(target: str | None) -> str:
    return signin.back_to(target, HOME)


def login_page(
    visit: PortalVisit,
    *,
    errors: Errors | None = None,
    login: str = "",
    target: str = HOME,
    status: int = 200,
) -> HTMLResponse:
    return render(
        visit,
        "login.html",
        title=N_("Sign in to the merchant portal"),
        status=status,
        errors=errors,
        login=login,
        next=target,
    )


@router.get("/login", response_class=HTMLResponse)
async def show_login(visit: VisitDep, next: Next = None) -> Response:
    if visit.user is not None:
        return see_other(_next(next))
    return login_page(visit, target=_next(next))


@router.post("/login")
async def login(
    visit: VisitDep,
    _csrf: None = checked_form(SIGN_IN),
    login: FormField = "",
    password: FormField = "",
    next: FormField = "",
) -> Response:
    target = _next(next)
    errors: Errors = {}
    login = required(login, "login", visit._("Enter your login name or phone number."), errors)
    if not password:
        errors["password"] = visit._("Enter your password.")
    if errors:
        return login_page(visit, errors=errors, login=login, target=target, status=422)
    try:
        portal = visit.runtime.payments.portal
        signed_in = await portal.sign_in(login, password, client=visit.client_address)
    except (Unauthorized, SignInLocked, RateLimited) as error:
        errors = signin.refused(error, visit._, visit._("Wrong login or password."))
        return login_page(visit, errors=errors, login=login, target=target, status=error.status)
    now = visit.runtime.clock.now()
    return signin.signed_in(visit, signed_in.token, signed_in.expires_at, now, target)


@router.post("/logout")
async def logout(
    visit: VisitDep,
    _csrf: None = checked_form(),
) -> Response:
    if visit.session_token:
        await visit.runtime.payments.portal.sign_out(visit.session_token)
    response = see_other(SIGN_IN)
    visit.end_session(response)
    return response


@router.get("", include_in_schema=False)
async def portal_root() -> Response:
    return see_other(HOME)


@router.get("/", response_class=HTMLResponse)
async def dashboard(
    visit: VisitDep,
    user: SignedIn,
) -> Response:
    reports, merchant = visit.runtime.reporting.reports, visit.merchant
    days = await reports.takings(merchant.id, days=CHART_DAYS)
    chart = bar_chart([(day.day.strftime("%m-%d"), day.gross) for day in days])
    recent = await reports.search(merchant.id, TradeQuery(limit=RECENT))
    return render(
        visit,
        "dashboard.html",
        title=N_("Dashboard"),
        merchant=merchant,
        today=days[-1],
        days=days,
        chart=chart,
        balances=await visit.runtime.payments.merchants.balances(merchant.id),
        recent=recent.trades,
    )
