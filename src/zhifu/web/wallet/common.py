"""What every wallet page shares: the signed-in consumer, rendering, money-form keys.

The wallet's cookies live under /wallet: `zhifu_wallet` holds the token of
UserService.login, `zhifu_csrf` the CSRF nonce (zhifu.web.kit.session). A page for signed-in
consumers sends anyone else to the sign-in page and back.

Every money action is two steps. The first form is checked field by field; then a
confirmation page shows what will happen and carries a fresh `form_key`. Confirming
calls the service with that key as its idempotency key, so the same confirmation posted
twice (a double click, a resubmitted page) is one request: the second replays the
first's result. A refusal renders the confirmation again with a new key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from zhifu.identity import Card, User
from zhifu.runtime import Runtime
from zhifu.transfers import StatementItem
from zhifu.web.kit import pages, session, signin
from zhifu.web.kit.deps import Answered, BackTo, RuntimeDep, back_to_path, csrf_checked
from zhifu.web.kit.errors import Errors
from zhifu.web.kit.i18n import N_
from zhifu.web.kit.session import new_form_key

PREFIX = "/wallet"
SPACE = session.CookieSpace(path=PREFIX, session_cookie="zhifu_wallet")
HOME = f"{PREFIX}/"
SIGN_IN = f"{PREFIX}/login"

FormField = Annotated[str, Form()]

# The kinds of wallet movement, as people call them.
KINDS = {
    "payment": N_("Payment"),
    "refund": N_("Refund"),
    "transfer": N_("Transfer"),
    "topup": N_("Top-up"),
    "withdrawal": N_("Withdrawal"),
    "escrow": N_("Guaranteed payment"),
}


@dataclass(frozen=True, kw_only=True)
class WalletVisit(session.Visit):
    runtime: Runtime
    user: User | None

    def _(self, message: str) -> str:
        return self.gettext(message)

    def to_sign_in(self) -> RedirectResponse:
        """Off to sign in, and back here afterwards (a GET page; else home)."""
        return signin.to_sign_in(self, SIGN_IN, HOME)


async def current_visit(request: Request, runtime: RuntimeDep) -> WalletVisit:
    user = await session.signed_in_consumer(runtime.users, SPACE.session_token(request))
    return WalletVisit.of(request, SPACE, runtime=runtime, user=user)


VisitDep = Annotated[WalletVisit, Depends(current_visit)]


async def signed_in_user(visit: VisitDep) -> User:
    """The signed-in consumer; anyone else goes to sign in and back."""
    if visit.user is None:
        raise Answered(visit.to_sign_in())
    return visit.user


SignedIn = Annotated[User, Depends(signed_in_user)]


def checked_form(back_to: BackTo = None) -> Any:
    """The form's CSRF token checked (after signing in); else "your form expired", with
    a link to `back_to`."""
    return csrf_checked(
        current_visit, lambda visit, request: form_expired(visit, back_to_path(back_to, request))
    )


def render(
    visit: WalletVisit,
    template: str,
    *,
    title: str,
    status: int = 200,
    errors: Errors | None = None,
    **context: Any,
) -> HTMLResponse:
    """A wallet page; `title` is an English message id, translated here."""
    context.setdefault("refresh_seconds", 0)
    return pages.render(
        visit,
        f"wallet/{template}",
        title=visit.gettext(title),
        status=status,
        scripts=True,
        errors=errors or {},
        user=visit.user,
        **context,
    )


MESSAGES = pages.MessagePages(render, HOME, N_("Back to your wallet"))
message_page = MESSAGES.message
not_found = MESSAGES.not_found
form_expired = MESSAGES.form_expired


def kind_name(visit: WalletVisit, kind: str) -> str:
    return visit.gettext(KINDS[kind]) if kind in KINDS else kind.replace("_", " ")


def named_kinds(visit: WalletVisit, items: list[StatementItem]) -> list[tuple[StatementItem, str]]:
    return [(item, kind_name(visit, item.kind)) for item in items]


# Card networks as they write their names.
BRAND_NAMES = {
    "unionpay": "UnionPay", "visa": "Visa", "mastercard": "Mastercard", "amex": "American Express",
    "jcb": "JCB", "diners": "Diners Club", "discover": "Discover", "maestro": "Maestro",
}  # fmt: skip


def card_label(visit: WalletVisit, card: Card) -> str:
    if card.kind == "account":
        kind = visit.gettext("Bank account")
    else:
        kind = BRAND_NAMES.get(card.brand) or visit.gettext("Bank card")
    bank = f" · {card.bank}" if card.bank else ""
    return f"{kind} •••• {card.last4}{bank}"


@dataclass(frozen=True)
class Source:
    """A way to pay shown as a radio choice: the wallet balance or a linked card."""

    value: str
    name: str
    detail: str


@dataclass(frozen=True)
class Confirmation:
    """What a confirmation page shows and what its form sends on (all texts translated)."""

    heading: str
    action: str
    facts: list[tuple[str, str]]
    fields: dict[str, str]
    button: str
    back_url: str
    pin: bool = False
    sources: list[Source] = field(default_factory=list)
    source: str = ""
    notice: str = ""


def confirm_page(
    visit: WalletVisit,
    confirmation: Confirmation,
    *,
    errors: Errors | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The confirmation step of a money action, with a fresh form key."""
    return render(
        visit,
        "confirm.html",
        title=N_("Confirm"),
        status=status,
        errors=errors,
        confirmation=confirmation,
        form_key=new_form_key(),
    )


async def sources(visit: WalletVisit, user: User, currency: str = "CNY") -> list[Source]:
    """The wallet balance and each linked card, as ways to pay."""
    runtime = visit.runtime
    balance = (await runtime.transfers.balance(user.id, currency)).available
    wallet = Source(
        "wallet",
        visit._("Wallet balance"),
        visit._("{amount} available").format(amount=visit.money(balance, currency)),
    )
    cards = await runtime.cards.list(user.id)
    return [wallet, *(Source(f"card:{card.id}", card_label(visit, card), "") for card in cards)]
