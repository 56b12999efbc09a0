"""Settlement: the balances (pending settlement and available) and the bank account
settlements are paid to. The account number is checked (Luhn for cards, the length of a
bank account), tokenised by MerchantService, and only its last four digits are shown."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from zhifu.errors import ZhifuError
from zhifu.web.kit.errors import Errors, refusal
from zhifu.web.kit.forms import required
from zhifu.web.kit.i18n import N_
from zhifu.web.kit.session import see_other
from zhifu.web.portal.common import (
    PREFIX,
    FormField,
    PortalVisit,
    SignedIn,
    VisitDep,
    checked_form,
    render,
)

router = APIRouter()

SETTLEMENT = f"{PREFIX}/settlement"
BANK_MAX = 100
NUMBER_MAX = 64


async def settlement_page(
    visit: PortalVisit,
    *,
    errors: Errors | None = None,
    bank: str = "",
    notice: str = "",
    status: int = 200,
) -> HTMLResponse:
    merchant = visit.merchant
    return render(
        visit,
        "settlement.html",
        title=N_("Settlement"),
        status=status,
        errors=errors,
        merchant=merchant,
        balances=await visit.runtime.payments.merchants.balances(merchant.id),
        fee_percent=merchant.to_dict()["fee_rate_percent"],
        bank=bank,
        notice=notice,
    )


@router.get("/settlement", response_class=HTMLResponse)
async def show_settlement(
    visit: VisitDep,
    user: SignedIn,
    saved: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    notice = visit._("Settlements will be paid to this account.") if saved else ""
    return await settlement_page(visit, notice=notice)


@router.post("/settlement")
async def set_account(
    visit: VisitDep,
    user: SignedIn,
    _csrf: None = checked_form(SETTLEMENT),
    bank: FormField = "",
    number: FormField = "",
) -> Response:
    errors: Errors = {}
    bank = required(bank, "bank", visit._("Enter the name of the bank."), errors)
    if len(bank) > BANK_MAX or not bank.isprintable():
        errors["bank"] = visit._("A name has at most 100 characters, on one line.")
    number = required(number, "number", visit._("Enter the account number."), errors)
    if len(number) > NUMBER_MAX:
        errors["number"] = visit._("Check the number: it is not a valid card or account number.")
    if errors:
        return await settlement_page(visit, errors=errors, bank=bank, status=422)
    try:
        await visit.runtime.payments.merchants.set_settlement_account(
            visit.merchant.id, number, bank
        )
    except ZhifuError as error:
        errors = refusal(error, visit._, {"invalid_request": "bank"}, default="number")
        return await settlement_page(visit, errors=errors, bank=bank, status=error.status)
    return see_other(f"{SETTLEMENT}?saved=1")
