"""The wallet: balance, balance at a past moment, statements as JSON and CSV."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime

from zhifu.api.auth import CurrentUser
from zhifu.api.deps import RuntimeDep
from zhifu.api.openapi import refusals
from zhifu.api.schemas.users import BalanceOut
from zhifu.api.schemas.wallet import BalanceAsOfOut, StatementOut
from zhifu.errors import NotFound
from zhifu.inputs import MAX_ID
from zhifu.money import format_decimal

router = APIRouter(prefix="/v1", tags=["wallet"], responses=refusals(NotFound))

CurrencyQuery = Annotated[str, Query(min_length=3, max_length=3, description="ISO 4217 code")]
Limit = Annotated[int, Query(ge=1, le=500)]
Before = Annotated[int | None, Query(gt=0, le=MAX_ID, description="posting_id to page from")]


@router.get("/balance", response_model=BalanceOut)
async def balance(
    user: CurrentUser, runtime: RuntimeDep, currency: CurrencyQuery = "CNY"
) -> dict[str, Any]:
    """Posted, available (posted less money held) and pending amounts of the wallet."""
    return (await runtime.transfers.balance(user.id, currency)).to_dict()


@router.get("/balance/as-of", response_model=BalanceAsOfOut)
async def balance_as_of(
    at: AwareDatetime, user: CurrentUser, runtime: RuntimeDep, currency: CurrencyQuery = "CNY"
) -> dict[str, Any]:
    """The posted balance as it stood at `at` (ISO 8601 with a time zone)."""
    posted = await runtime.transfers.balance_as_of(user.id, at, currency)
    return {
        "at": at.isoformat(),
        "currency": currency,
        "posted": posted,
        "posted_decimal": format_decimal(posted, currency),
    }


@router.get("/statement", response_model=StatementOut)
async def statement(
    user: CurrentUser,
    runtime: RuntimeDep,
    currency: CurrencyQuery = "CNY",
    limit: Limit = 50,
    before: Before = None,
) -> dict[str, Any]:
    """Movements of the wallet, newest first, each with the balance after it. For the
    next page pass `next_before` as `before`."""
    lines = await runtime.transfers.statement(user.id, currency, limit, before)
    more = len(lines) == limit
    return {
        "currency": currency,
        "lines": [line.to_dict() for line in lines],
        "next_before": lines[-1].posting_id if lines and more else None,
    }


@router.get(
    "/statement.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def statement_csv(
    user: CurrentUser,
    runtime: RuntimeDep,
    currency: CurrencyQuery = "CNY",
    limit: Limit = 500,
    before: Before = None,
) -> Response:
    """The statement as CSV (amounts as decimals), for spreadsheets and bookkeeping."""
    text = await runtime.transfers.statement_csv(user.id, currency, limit, before)
    filename = f"zhifu-statement-{currency}.csv"
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
