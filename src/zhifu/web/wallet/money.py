"""Cards, top-ups, withdrawals and transfers: the pages over CardService, FundingService
and TransferService (the same calls the REST API makes)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse, Response

from zhifu.errors import NotFound, ZhifuError
from zhifu.funding import FundingOrder
from zhifu.identity import Card, User
from zhifu.inputs import MAX_ID
from zhifu.money import format_decimal
from zhifu.web.kit.errors import Errors, refusal
from zhifu.web.kit.forms import parse_amount, required
from zhifu.web.kit.i18n import N_
from zhifu.web.kit.session import new_form_key, see_other, valid_form_key
from zhifu.web.wallet.common import (
    PREFIX,
    Confirmation,
    FormField,
    SignedIn,
    VisitDep,
    WalletVisit,
    card_label,
    checked_form,
    confirm_page,
    form_expired,
    not_found,
    render,
)

router = APIRouter()

CURRENCY = "CNY"
PENDING_REFRESH_SECONDS = 3
Id = Annotated[int, Path(gt=0, le=MAX_ID)]
_ID = re.compile(r"[1-9][0-9]{0,17}")


# Cards.


def cards_page(
    visit: WalletVisit,
    cards: list[Card],
    *,
    errors: Errors | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render(
        visit, "cards.html", title=N_("Cards and accounts"), status=status, errors=errors,
        cards=[(card, card_label(visit, card)) for card in cards], values=values or {},
        form_key=new_form_key(),
    )  # fmt: skip


@router.get("/cards", response_class=HTMLResponse)
async def show_cards(
    visit: VisitDep,
    user: SignedIn,
) -> Response:
    return cards_page(visit, await visit.runtime.cards.list(user.id))


@router.post("/cards")
async def link_card(
    visit: VisitDep,
    user: SignedIn,
    _csrf: None = checked_form(f"{PREFIX}/cards"),
    form_key: FormField = "",
    number: FormField = "",
    kind: FormField = "card",
    holder_name: FormField = "",
    bank: FormField = "",
) -> Response:
    if not valid_form_key(form_key):
        return form_expired(visit, f"{PREFIX}/cards")
    values = {"number": number, "kind": kind, "holder_name": holder_name, "bank": bank}
    errors: Errors = {}
    number = required(number, "number", visit._("Enter the card or account number."), errors)
    if kind not in ("card", "account"):
        errors["kind"] = visit._("Choose a bank card or a bank account.")
    if not errors:
        try:
            await visit.runtime.cards.link(
                user.id, number, kind=kind, holder_name=holder_name, bank=bank or None,
                idempotency_key=f"wallet:{form_key}",
            )  # fmt: skip
            return see_other(f"{PREFIX}/cards")
        except ZhifuError as error:
            errors = refusal(error, visit._, {"invalid_request": "number"})
            status = error.status
    else:
        status = 422
    cards = await visit.runtime.cards.list(user.id)
    return cards_page(visit, cards, errors=errors, values=values, status=status)


@router.post("/cards/{card_id}/unlink")
async def unlink_card(
    card_id: Id,
    visit: VisitDep,
    user: SignedIn,
    _csrf: None = checked_form(f"{PREFIX}/cards"),
) -> Response:
    try:
        await visit.runtime.cards.unlink(user.id, card_id)
    except NotFound:
        return not_found(visit)
    return see_other(f"{PREFIX}/cards")


# Top-ups and withdrawals: card and amount, then a confirmation (with the PIN to withdraw).


@dataclass(frozen=True)
class FundingForm:
    kind: str  # "topup" | "withdraw"
    card: Card | None
    amount: int | None
    errors: Errors

    @property
    def fields(self) -> dict[str, str]:
        assert self.card is not None and self.amount is not None
        return {"card_id": str(self.card.id), "amount": format_decimal(self.amount, CURRENCY)}


async def read_funding_form(
    visit: WalletVisit, user: User, kind: str, card_id: str, amount_text: str
) -> FundingForm:
    cards = {str(card.id): card for card in await visit.runtime.cards.list(user.id)}
    errors: Errors = {}
    card = cards.get(card_id) if _ID.fullmatch(card_id) else None
    if card is None:
        errors["card_id"] = visit._("Choose one of your linked cards.")
    amount, amount_errors = parse_amount(amount_text, CURRENCY, visit._)
    return FundingForm(kind, card, amount, {**errors, **amount_errors})


def funding_form_page(
    visit: WalletVisit,
    kind: str,
    cards: list[Card],
    *,
    errors: Errors | None = None,
    card_id: str = "",
    amount: str = "",
    status: int = 200,
) -> HTMLResponse:
    title = "Top up" if kind == "topup" else "Withdraw"
    return render(
        visit, "funding_form.html", title=title, status=status, errors=errors, kind=kind,
        cards=[(str(card.id), card_label(visit, card)) for card in cards], card_id=card_id,
        amount=amount,
    )  # fmt: skip


def funding_confirmation(visit: WalletVisit, form: FundingForm) -> Confirmation:
    assert form.card is not None and form.amount is not None
    amount = visit.money(form.amount, CURRENCY)
    card = card_label(visit, form.card)
    if form.kind == "topup":
        return Confirmation(
            heading=visit._("Top up your wallet"),
            action=f"{PREFIX}/topup/confirm",
            facts=[(visit._("From"), card), (visit._("To"), visit._("Your wallet")),
                   (visit._("Amount"), amount)],
            fields=form.fields,
            button=visit._("Top up {amount}").format(amount=amount),
            back_url=f"{PREFIX}/topup",
        )  # fmt: skip
    return Confirmation(
        heading=visit._("Withdraw to your card"),
        action=f"{PREFIX}/withdraw/confirm",
        facts=[(visit._("From"), visit._("Your wallet")), (visit._("To"), card),
               (visit._("Amount"), amount)],
        fields=form.fields,
        button=visit._("Withdraw {amount}").format(amount=amount),
        back_url=f"{PREFIX}/withdraw",
        pin=True,
    )  # fmt: skip


async def _show_funding(visit: WalletVisit, user: User, kind: str) -> Response:
    return funding_form_page(visit, kind, await visit.runtime.cards.list(user.id))


async def _review_funding(
    visit: WalletVisit, user: User, kind: str, card_id: str, amount: str
) -> Response:
    form = await read_funding_form(visit, user, kind, card_id, amount)
    if form.errors:
        cards = await visit.runtime.cards.list(user.id)
        return funding_form_page(
            visit, kind, cards, errors=form.errors, card_id=card_id, amount=amount, status=422
        )
    return confirm_page(visit, funding_confirmation(visit, form))


async def _confirm_funding(
    visit: WalletVisit, user: User, kind: str, form_key: str, card_id: str, amount: str, pin: str
) -> Response:
    form = await read_funding_form(visit, user, kind, card_id, amount)
    if form.errors or not valid_form_key(form_key):
        return form_expired(visit, f"{PREFIX}/{kind}")
    assert form.card is not None and form.amount is not None
    funding, key = visit.runtime.funding, f"wallet:{form_key}"
    try:
        if kind == "topup":
            order = await funding.topup(user.id, form.card.id, form.amount, CURRENCY, key)
        else:
            order = await funding.withdraw(user.id, form.card.id, form.amount, CURRENCY, pin, key)
    except ZhifuError as error:
        errors = refusal(error, visit._, {"not_found": "form", "card_unlinked": "form"})
        confirmation = funding_confirmation(visit, form)
        return confirm_page(visit, confirmation, errors=errors, status=error.status)
    return see_other(f"{PREFIX}/funding/{order.id}")


@router.get("/topup", response_class=HTMLResponse)
async def show_topup(visit: VisitDep, user: SignedIn) -> Response:
    return await _show_funding(visit, user, "topup")


@router.post("/topup")
async def review_topup(
    visit: VisitDep,
    user: SignedIn,
    _csrf: None = checked_form(f"{PREFIX}/topup"),
    card_id: FormField = "",
    amount: FormField = "",
) -> Response:
    return await _review_funding(visit, user, "topup", card_id, amount)


@router.post("/topup/confirm")
async def confirm_topup(
    visit: VisitDep,
    user: SignedIn,
    _csrf: None = checked_form(f"{PREFIX}/topup"),
    form_key: FormField = "",
    card_id: FormField = "",
    amount: FormField = "",
) -> Response:
    return await _confirm_funding(visit, user, "topup", form_key, card_id, amount, "")


@router.get("/withdraw", response_class=HTMLResponse)
async def show_withdraw(visit: VisitDep, user: SignedIn) -> Response:
    return await _show_funding(visit, user, "withdraw")


@router.post("/withdraw")
async def review_withdraw(
    visit: VisitDep,
    user: SignedIn,
    _csrf: None = checked_form(f"{PREFIX}/withdraw"),
    card_id: FormField = "",
    amount: FormField = "",
) -> Response:
    return await _review_funding(visit, user, "withdraw", card_id, amount)


@router.post("/withdraw/confirm")
async def confirm_withdraw(
    visit: VisitDep,
    user: SignedIn,
    _csrf: None = checked_form(f"{PREFIX}/withdraw"),
    form_key: FormField = "",
    card_id: FormField = "",
    amount: FormField = "",
    pin: FormField = "",
) -> Response:
    return await _confirm_funding(visit, user, "withdraw", form_key, card_id, amount, pin)


@router.get("/funding/{order_id}", response_class=HTMLResponse)
async def funding_order(
    order_id: Id,
    visit: VisitDep,
    user: SignedIn,
) -> Response:
    try:
        order: FundingOrder = await visit.runtime.funding.get(user.id, order_id)
    except NotFound:
        return not_found(visit)
    card = await visit.runtime.cards.get(user.id, order.card_id)
    return render(
        visit, "funding_order.html",
        title=N_("Top up") if order.kind == "topup" else N_("Withdraw"), order=order,
        card=card_label(visit, card),
        refresh_seconds=PENDING_REFRESH_SECONDS if order.pending else 0,
    )  # fmt: skip


# Transfers to a phone number.


@dataclass(frozen=True)
class TransferForm:
    phone: str
    amount: int | None
    memo: str
    errors: Errors

    @property
    def fields(self) -> dict[str, str]:
        assert self.amount is not None
        amount = format_decimal(self.amount, CURRENCY)
        return {"phone": self.phone, "amount": amount, "memo": self.memo}


def read_transfer_form(visit: WalletVisit, phone: str, amount: str, memo: str) -> TransferForm:
    errors: Errors = {}
    phone = required(phone, "phone", visit._("Enter the phone number to send to."), errors)
    value, amount_errors = parse_amount(amount, CURRENCY, visit._)
    memo = memo.strip()
    if len(memo) > 140 or not memo.isprintable():
        errors["memo"] = visit._("A note has at most 140 characters.")
    return TransferForm(phone, value, memo, {**errors, **amount_errors})


def transfer_page(
    visit: WalletVisit,
    *,
    errors: Errors | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render(
        visit, "transfer.html", title=N_("Send money"), status=status, errors=errors,
        values=values or {"phone": "", "amount": "", "memo": ""},
    )  # fmt: skip


def transfer_confirmation(visit: WalletVisit, form: TransferForm, to: str) -> Confirmation:
    assert form.amount is not None
    amount = visit.money(form.amount, CURRENCY)
    facts = [(visit._("To"), to), (visit._("Amount"), amount)]
    if form.memo:
        facts.append((visit._("Note"), form.memo))
    return Confirmation(
        heading=visit._("Send money"),
        action=f"{PREFIX}/transfer/confirm",
        facts=facts,
        fields=form.fields,
        button=visit._("Send {amount}").format(amount=amount),
        back_url=f"{PREFIX}/transfer",
        pin=True,
    )


async def _recipient(visit: WalletVisit, user: User, phone: str) -> tuple[str | None, Errors]:
    """The recipient's masked phone, or why they cannot be paid."""
    try:
        recipient = await visit.runtime.users.by_phone(phone)
    except NotFound:
        return None, {"phone": visit._("Nobody with this phone number uses zhifu.")}
    except ZhifuError as error:
        return None, refusal(error, visit._)
    if recipient.id == user.id:
        return None, {"phone": visit._("You cannot send money to yourself.")}
    return recipient.masked_phone, {}


@router.get("/transfer", response_class=HTMLResponse)
async def show_transfer(
    visit: VisitDep,
    user: SignedIn,
) -> Response:
    return transfer_page(visit)


@router.post("/transfer")
async def review_transfer(
    visit: VisitDep,
    user: SignedIn,
    _csrf: None = checked_form(f"{PREFIX}/transfer"),
    phone: FormField = "",
    amount: FormField = "",
    memo: FormField = "",
) -> Response:
    form = read_transfer_form(visit, phone, amount, memo)
    values = {"phone": phone, "amount": amount, "memo": memo}
    to, errors = (None, {}) if "phone" in form.errors else await _recipient(visit, user, form.phone)
    errors = {**form.errors, **errors}
    if errors or to is None:
        return transfer_page(visit, errors=errors, values=values, status=422)
    return confirm_page(visit, transfer_confirmation(visit, form, to))


@router.post("/transfer/confirm")
async def confirm_transfer(
    visit: VisitDep,
    user: SignedIn,
    _csrf: None = checked_form(f"{PREFIX}/transfer"),
    form_key: FormField = "",
    phone: FormField = "",
    amount: FormField = "",
    memo: FormField = "",
    pin: FormField = "",
) -> Response:
    form = read_transfer_form(visit, phone, amount, memo)
    if form.errors or not valid_form_key(form_key):
        return form_expired(visit, f"{PREFIX}/transfer")
    assert form.amount is not None
    try:
        receipt = await visit.runtime.transfers.transfer(
            user.id, to_phone=form.phone, amount=form.amount, currency=CURRENCY,
            memo=form.memo, pin=pin, idempotency_key=f"wallet:{form_key}",
        )  # fmt: skip
    except ZhifuError as error:
        to, _ = await _recipient(visit, user, form.phone)
        confirmation = transfer_confirmation(visit, form, to or form.phone)
        errors = refusal(error, visit._, {"recipient_not_found": "form", "self_transfer": "form"})
        return confirm_page(visit, confirmation, errors=errors, status=error.status)
    return see_other(f"{PREFIX}/transfers/{receipt.entry_id}")


@router.get("/transfers/{entry_id}", response_class=HTMLResponse)
async def transfer_receipt(
    entry_id: Id,
    visit: VisitDep,
    user: SignedIn,
) -> Response:
    try:
        receipt = await visit.runtime.transfers.receipt(user.id, entry_id)
    except NotFound:
        return not_found(visit)
    return render(
        visit, "receipt.html", title=N_("Transfer receipt"), receipt=receipt,
        sent=receipt.from_user_id == user.id,
    )  # fmt: skip
