"""Person-to-person transfers with receipts; balances and statements of wallets."""

from zhifu.transfers.receipts import Movement, Receipt, StatementItem, WalletBalance
from zhifu.transfers.service import TransferService

__all__ = ["Movement", "Receipt", "StatementItem", "TransferService", "WalletBalance"]
