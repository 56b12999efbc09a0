"""Merchants: the merchant's profile and discount rate, stores and terminals, API keys,
ledger accounts, the portal's staff logins and the webhook endpoint settings.

Merchants sit below payments: payments use them, never the other way round. Payouts
stay in payments because they move money with payments' posting recipes.

This is the face: code outside merchants imports from here only."""

from zhifu.merchants.merchants import (
    DEFAULT_FEE_RATE_PPM,
    PPM,
    ApiKey,
    Merchant,
    MerchantDebit,
    MerchantService,
    existing_merchant_accounts,
    merchant_accounts,
    merchant_debit,
)
from zhifu.merchants.portal_logins import (
    BAD_LOGIN,
    PORTAL_LOCKOUT,
    PORTAL_RATE,
    SESSION_LIFETIME,
    InvalidLoginName,
    LoginTaken,
    MerchantLogin,
    PortalLogins,
    PortalSession,
    PortalUser,
)
from zhifu.merchants.webhooks import MerchantNotifications, UnknownEventType, Webhook

__all__ = [
    "BAD_LOGIN",
    "DEFAULT_FEE_RATE_PPM",
    "PORTAL_LOCKOUT",
    "PORTAL_RATE",
    "PPM",
    "SESSION_LIFETIME",
    "ApiKey",
    "InvalidLoginName",
    "LoginTaken",
    "Merchant",
    "MerchantDebit",
    "MerchantLogin",
    "MerchantNotifications",
    "MerchantService",
    "PortalLogins",
    "PortalSession",
    "PortalUser",
    "UnknownEventType",
    "Webhook",
    "existing_merchant_accounts",
    "merchant_accounts",
    "merchant_debit",
]
