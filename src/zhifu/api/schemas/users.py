"""What the users router answers: users, sessions, limits, balances, KYC requests."""

from __future__ import annotations

from pydantic import BaseModel


class UserOut(BaseModel):
    id: int
    phone: str
    kyc_tier: int
    has_pin: bool
    sandbox: bool
    created_at: str


class SessionOut(BaseModel):
    token: str
    token_type: str
    user_id: int
    expires_at: str


class LimitsOut(BaseModel):
    currency: str
    single_payment: int
    single_payment_decimal: str
    daily_outflow: int
    daily_outflow_decimal: str
    balance_cap: int | None
    balance_cap_decimal: str | None


class BalanceOut(BaseModel):
    currency: str
    posted: int
    posted_decimal: str
    available: int
    available_decimal: str
    pending_out: int
    pending_out_decimal: str
    pending_in: int
    pending_in_decimal: str


class ProfileOut(UserOut):
    limits: LimitsOut
    balances: list[BalanceOut]


class KycRequestOut(BaseModel):
    id: str
    tier: int
    status: str
    reason: str | None
    created_at: str
    decided_at: str | None


class KycStatusOut(BaseModel):
    kyc_tier: int
    limits: LimitsOut
    request: KycRequestOut | None
