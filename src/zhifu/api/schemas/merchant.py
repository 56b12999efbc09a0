"""What the merchant, merchant apps and merchant webhooks routers answer."""

from __future__ import annotations

from pydantic import BaseModel


class SettlementAccountOut(BaseModel):
    last4: str
    bank: str | None


class MerchantOut(BaseModel):
    id: int
    name: str
    fee_rate_ppm: int
    fee_rate_percent: str
    category_code: str
    city: str
    refund_window_days: int
    settlement_account: SettlementAccountOut | None
    sandbox: bool
    created_at: str


class MerchantBalancesOut(BaseModel):
    currency: str
    pending_settlement: int
    pending_settlement_decimal: str
    available: int
    available_decimal: str


class MerchantProfileOut(MerchantOut):
    balances: MerchantBalancesOut


class StoreOut(BaseModel):
    id: int
    merchant_id: int
    name: str
    created_at: str


class TerminalOut(BaseModel):
    id: int
    store_id: int
    label: str
    created_at: str


class NewTerminalOut(TerminalOut):
    merchant_id: int


class StoreWithTerminalsOut(BaseModel):
    id: int
    name: str
    created_at: str
    terminals: list[TerminalOut]


class StoresOut(BaseModel):
    stores: list[StoreWithTerminalsOut]


class ApiKeyOut(BaseModel):
    id: int
    prefix: str
    created_at: str
    revoked_at: str | None


class NewApiKeyOut(ApiKeyOut):
    secret_key: str | None = None  # only in the first answer


class ApiKeysOut(BaseModel):
    api_keys: list[ApiKeyOut]


class GrantedCodeOut(BaseModel):
    app_id: str
    app_auth_code: str
    expires_at: str


class AuthorisationOut(BaseModel):
    app_id: str
    state: str
    auth_app_id: str | None
    expires_at: str | None
    created_at: str
    updated_at: str


class AuthorisationsOut(BaseModel):
    app_authorisations: list[AuthorisationOut]


class PlatformKeyOut(BaseModel):
    key_id: int
    public_key: str
    created_at: str
    retires_at: str | None


class AppPlatformKeysOut(BaseModel):
    app_id: str
    signing: PlatformKeyOut
    newest: PlatformKeyOut


class WebhookOut(BaseModel):
    url: str
    event_types: list[str] | None
    secret: str | None = None  # only when new


class AttemptOut(BaseModel):
    attempt_no: int
    started_at: str
    status_code: int | None
    error: str | None
    duration_ms: int | None


class DeliveryOut(BaseModel):
    id: int
    event_id: str
    event_type: str
    sequence: int
    state: str
    attempts: int
    next_attempt_at: str | None
    last_attempt_at: str | None
    last_status_code: int | None
    last_error: str | None
    created_at: str
    completed_at: str | None
    attempt_log: list[AttemptOut]


class DeliveriesOut(BaseModel):
    deliveries: list[DeliveryOut]
