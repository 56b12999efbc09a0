"""The open platform as one object: apps, the platform key and the gateway."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zhifu.clock import Clock
from zhifu.db.database import Database
from zhifu.identity import UserService
from zhifu.openplatform.apps import App, AppService
from zhifu.openplatform.gateway import Gateway
from zhifu.openplatform.keys import PlatformKeys
from zhifu.openplatform.trade_methods import TradeMethods
from zhifu.payments.service import Payments


@dataclass(frozen=True)
class OpenPlatform:
    apps: AppService
    keys: PlatformKeys
    gateway: Gateway
    payments: Payments

    @classmethod
    def build(
        cls, db: Database, clock: Clock, payments: Payments, users: UserService
    ) -> OpenPlatform:
        apps, keys = AppService(db, clock), PlatformKeys(db, clock)
        handlers = TradeMethods(payments, users, clock).handlers()
        return cls(apps, keys, Gateway(apps, keys, clock, handlers), payments)

    async def create_app(self, merchant_id: int, public_key: str, **options: Any) -> App:
        """Register an app for an existing merchant (see AppService.create)."""
        await self.payments.merchants.get(merchant_id)
        return await self.apps.create(merchant_id, public_key, **options)

    async def platform_public_key(self) -> str:
        """zhifu's public key (SPKI PEM): merchants configure it as the alipay public key."""
        return (await self.keys.current()).public_key_pem
