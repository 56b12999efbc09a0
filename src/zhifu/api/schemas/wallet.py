"""What the wallet, cards, funding and transfers routers answer."""

from __future__ import annotations

from pydantic import BaseModel, Field


class BalanceAsOfOut(BaseModel):
    at: str
    currency: str
    posted: int
    posted_decimal: str


class Party(BaseModel):
    user_id: int | None
    phone: str | None


class StatementLineOut(BaseModel):
    """`entry_id` names the movement (a transfer's receipt: GET /v1/transfers/{entry_id})."""

    posting_id: int
    entry_id: int
    kind: str
    direction: str
    amount: int
    amount_decimal: str
    currency: str
    balance_after: int
    balance_after_decimal: str
    created_at: str
    memo: str
    counterparty: Party


class StatementOut(BaseModel):
    currency: str
    lines: list[StatementLineOut]
    next_before: int | None


class CardOut(BaseModel):
    id: int
    user_id: int
    kind: str
    token: str
    last4: str
    brand: str
    bank: str
    holder_name: str
    status: str
    created_at: str


class CardsOut(BaseModel):
    cards: list[CardOut]


class FundingOrderOut(BaseModel):
    id: int
    reference: str
    kind: str
    state: str
    card_id: int
    amount: int
    amount_decimal: str
    currency: str
    failure_code: str | None
    bank_reference: str | None
    created_at: str
    updated_at: str
    completed_at: str | None


class FundingOrdersOut(BaseModel):
    funding_orders: list[FundingOrderOut]


class ReceiptParty(BaseModel):
    user_id: int
    phone: str


class ReceiptOut(BaseModel):
    """`entry_id` is the transfer's number: GET /v1/transfers/{entry_id} reads it again."""

    entry_id: int
    from_: ReceiptParty = Field(alias="from")
    to: ReceiptParty
    amount: int
    amount_decimal: str
    currency: str
    memo: str
    created_at: str
