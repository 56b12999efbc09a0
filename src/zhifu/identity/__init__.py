"""Identity: users, sessions, payment PINs, KYC tiers and their wallets, linked cards."""

from zhifu.identity.allowance import spend_password_free
from zhifu.identity.cards import Card, CardService, load_tokenizer_secret
from zhifu.identity.limits import KYC_LIMITS, TierLimits
from zhifu.identity.phones import mask_phone, normalise_phone
from zhifu.identity.users import Session, User, UserService
from zhifu.identity.wallets import find_wallet, wallet_account

__all__ = [
    "KYC_LIMITS",
    "Card",
    "CardService",
    "Session",
    "TierLimits",
    "User",
    "UserService",
    "find_wallet",
    "load_tokenizer_secret",
    "mask_phone",
    "normalise_phone",
    "spend_password_free",
    "wallet_account",
]
