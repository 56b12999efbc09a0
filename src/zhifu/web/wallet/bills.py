"""Bills: the movements of my wallet with filters, one page per movement, the CSV.

The list is TransferService.statement (the ledger's postings on my wallet, newest first,
each with the balance after it), filtered by kind, direction and dates. A movement's page
is found from its ledger entry, and only if one of the entry's postings is on a wallet
of mine: anyone else's is not found. It links to what the movement came from: the trade,
the transfer receipt or the top-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, Response

from zhifu.clock import BUSINESS_TIMEZONE
from zhifu.errors import NotFound
from zhifu.identity import User
from zhifu.inputs import MAX_ID
from zhifu.money import CURRENCIES
from zhifu.transfers import Movement, StatementItem
from zhifu.web.kit.i18n import N_
from zhifu.web.wallet.common import (
    KINDS,
    PREFIX,
    SignedIn,
    VisitDep,
    WalletVisit,
    kind_name,
    named_kinds,
    not_found,
    render,
)

router = APIRouter()

PAGE = 200
CSV_LINES = 500
Id = Annotated[int, Path(gt=0, le=MAX_ID)]
Text = Annotated[str, Query(max_length=32)]
Before = Annotated[int | None, Query(gt=0, le=MAX_ID)]


@dataclass(frozen=True)
class Filters:
    currency: str = "CNY"
    kind: str = ""
    direction: str = ""
    start: date | None = None
    end: date | None = None

    @classmethod
    def read(cls, currency: str, kind: str, direction: str, start: str, end: str) -> Filters:
        """What the filter form asked for; anything not understood is no filter."""
        return cls(
            currency=currency if currency in CURRENCIES else "CNY",
            kind=kind if kind in KINDS else "",
            direction=direction if direction in ("in", "out") else "",
            start=_date(start),
            end=_date(end),
        )

    def keeps(self, item: StatementItem) -> bool:
        day = item.created_at.astimezone(BUSINESS_TIMEZONE).date()
        return (
            (not self.kind or item.kind == self.kind)
            and (not self.direction or item.direction == self.direction)
            and (self.start is None or day >= self.start)
            and (self.end is None or day <= self.end)
        )

    def query(self) -> dict[str, str]:
        return {
            "currency": self.currency,
            "kind": self.kind,
            "direction": self.direction,
            "from": self.start.isoformat() if self.start else "",
            "to": self.end.isoformat() if self.end else "",
        }


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@router.get("/bills", response_class=HTMLResponse)
async def bills(
    visit: VisitDep,
    user: SignedIn,
    currency: Text = "CNY",
    kind: Text = "",
    direction: Text = "",
    start: Annotated[str, Query(alias="from", max_length=10)] = "",
    end: Annotated[str, Query(alias="to", max_length=10)] = "",
    before: Before = None,
) -> Response:
    filters = Filters.read(currency, kind, direction, start, end)
    wallets = await visit.runtime.users.wallets(user.id)
    lines = []
    if filters.currency in wallets:
        lines = await visit.runtime.transfers.statement(user.id, filters.currency, PAGE, before)
    older = lines[-1].posting_id if len(lines) == PAGE else None
    return render(
        visit, "bills.html", title=N_("Bills"), filters=filters, query=filters.query(),
        items=named_kinds(visit, [item for item in lines if filters.keeps(item)]),
        kinds=[(value, visit._(name)) for value, name in KINDS.items()],
        currencies=[(code, code) for code in sorted(wallets) or ["CNY"]], older=older,
    )  # fmt: skip


async def _details(visit: WalletVisit, user: User, found: Movement) -> dict[str, Any]:
    """What the movement came from, with a link to it."""
    runtime, meta = visit.runtime, found.metadata
    details: dict[str, Any] = {"link": None, "link_text": "", "counterparty": None, "memo": ""}
    if isinstance(meta.get("trade_no"), str):
        try:
            trade = await runtime.payments.methods.buyer_trade(user.id, meta["trade_no"])
        except NotFound:
            trade = None
        if trade is not None:
            merchant = await runtime.payments.merchants.get(trade.merchant_id)
            details |= {
                "counterparty": merchant.name,
                "memo": trade.subject,
                "link": f"{PREFIX}/trades/{trade.trade_no}",
                "link_text": visit._("See the payment"),
            }
    elif isinstance(meta.get("funding_order_id"), int):
        details |= {
            "link": f"{PREFIX}/funding/{meta['funding_order_id']}",
            "link_text": visit._("See the bank order"),
        }
    elif found.kind == "transfer":
        receipt = await runtime.transfers.receipt(user.id, found.entry_id)
        sent = receipt.from_user_id == user.id
        details |= {
            "counterparty": receipt.to_phone if sent else receipt.from_phone,
            "memo": receipt.memo,
            "link": f"{PREFIX}/transfers/{found.entry_id}",
            "link_text": visit._("See the receipt"),
        }
    return details


@router.get("/bills/{entry_id}", response_class=HTMLResponse)
async def bill(
    entry_id: Id,
    visit: VisitDep,
    user: SignedIn,
) -> Response:
    found = await visit.runtime.transfers.movement(user.id, entry_id)
    if found is None:
        return not_found(visit)
    return render(
        visit, "bill.html", title=N_("Bill"), movement=found, kind=kind_name(visit, found.kind),
        **await _details(visit, user, found),
    )  # fmt: skip


@router.get("/statement.csv", response_class=Response)
async def statement_csv(
    visit: VisitDep,
    user: SignedIn,
    currency: Text = "CNY",
    before: Before = None,
) -> Response:
    """My statement as CSV (amounts as decimals), the same file as GET /v1/statement.csv."""
    currency = currency if currency in CURRENCIES else "CNY"
    text = await visit.runtime.transfers.statement_csv(user.id, currency, CSV_LINES, before)
    day = visit.runtime.clock.now().astimezone(BUSINESS_TIMEZONE).date().isoformat()
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="zhifu-statement-{currency}-{day}.csv"',
            "Cache-Control": "no-store",
        },
    )
