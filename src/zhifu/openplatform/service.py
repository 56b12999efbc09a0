"""The open platform as one object: apps, the platform key and the gateway."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zhifu.clock import Clock
from zhifu.db.database import Database
from zhifu.errors import SandboxMismatch
from zhifu.identity import UserService
from zhifu.openplatform.apps import App, AppNotFound, AppService
from zhifu.openplatform.authorisation import AppAuthorisations, AuthorisationMethods
from zhifu.openplatform.bill_methods import BillMethods
from zhifu.openplatform.cashier import CASHIER_METHODS, Cashier
from zhifu.openplatform.certificates import Certificates, CertificateSet
from zhifu.openplatform.encryption import AppAesKeys
from zhifu.openplatform.fund_methods import FundMethods
from zhifu.openplatform.gateway import Gateway
from zhifu.openplatform.keys import PlatformKey, PlatformKeys
from zhifu.openplatform.notify import AlipayNotifications
from zhifu.openplatform.open_ids import OpenIds
from zhifu.openplatform.origins import TradeOrigins
from zhifu.openplatform.trade_methods import TradeMethods
from zhifu.openplatform.v3 import V3Gateway
from zhifu.payments import Payments
from zhifu.reporting import Reporting


@dataclass(frozen=True)
class OpenPlatform:
    apps: AppService
    keys: PlatformKeys
    gateway: Gateway
    payments: Payments
    bills: BillMethods
    authorisations: AppAuthorisations
    cashier: Cashier
    # The events channel of Alipay notifications: runtime registers it with the dispatcher.
    notifications: AlipayNotifications
    aes_keys: AppAesKeys
    open_ids: OpenIds
    # Certificate mode and the v3 OpenAPI (certificates.py, v3.py).
    certificates: Certificates
    v3: V3Gateway

    @classmethod
    def build(
        cls,
        db: Database,
        clock: Clock,
        payments: Payments,
        reporting: Reporting,
        users: UserService,
        *,
        key_passphrase: str | None = None,
    ) -> OpenPlatform:
        apps, keys = AppService(db, clock), PlatformKeys(db, clock, key_passphrase)
        bills = BillMethods(db, clock, reporting.bills)
        authorisations = AppAuthorisations(db, clock, apps)
        origins = TradeOrigins(db, clock, payments.trades)
        open_ids = OpenIds(db, clock)
        cashier = Cashier(payments, origins, apps, keys, clock)
        handlers = origins.recording(
            {
                **TradeMethods(payments, users, open_ids, clock).handlers(),
                **cashier.handlers(),
                **FundMethods(payments, users, open_ids).handlers(),
                **bills.handlers(),
                **AuthorisationMethods(authorisations, clock).handlers(),
            },
            always=CASHIER_METHODS,
        )
        aes_keys = AppAesKeys(db, clock, key_passphrase)
        certificates = Certificates(db, clock, keys, key_passphrase)
        gateway = Gateway(
            apps,
            keys,
            clock,
            handlers,
            authoriser=authorisations.merchant_for,
            aes_keys=aes_keys,
            certificates=certificates,
        )
        notifications = AlipayNotifications(origins, apps, keys, payments.trades, users, open_ids)
        return cls(
            apps,
            keys,
            gateway,
            payments,
            bills,
            authorisations,
            cashier,
            notifications,
            aes_keys,
            open_ids,
            certificates,
            V3Gateway(gateway, db, clock),
        )

    async def create_app(
        self, merchant_id: int, public_key: str, *, sandbox: bool | None = None, **options: Any
    ) -> App:
        """Register an app for an existing merchant (see AppService.create). A sandbox app
        belongs to a sandbox merchant, so it moves only sandbox money; `sandbox` defaults
        to the merchant's and may not contradict it."""
        merchant = await self.payments.merchants.get(merchant_id)
        if sandbox is not None and sandbox != merchant.sandbox:
            raise SandboxMismatch(
                "a sandbox app needs a sandbox merchant (zhifu merchant create --sandbox)"
                if sandbox
                else "a sandbox merchant's apps are sandbox apps",
                merchant_id=merchant_id,
            )
        return await self.apps.create(merchant_id, public_key, sandbox=merchant.sandbox, **options)

    async def new_aes_key(self, app_id: str, merchant_id: int | None = None) -> str:
        """A new AES content key for the app (base64), replacing its earlier one."""
        await self._app(app_id, merchant_id)
        return await self.aes_keys.generate(app_id)

    async def platform_public_key(self) -> str:
        """zhifu's newest public key (SPKI PEM), the one new apps are signed with:
        merchants configure it as the alipay public key."""
        return (await self.keys.current()).public_key_pem

    async def platform_key_for(self, app_id: str, merchant_id: int | None = None) -> PlatformKey:
        """The key that signs for the app now; with `merchant_id`, only that merchant's app."""
        await self._app(app_id, merchant_id)
        return await self.keys.for_app(app_id)

    async def use_newest_platform_key(
        self, app_id: str, merchant_id: int | None = None
    ) -> PlatformKey:
        """The app's merchant has configured the newest key: sign with it from now on."""
        await self._app(app_id, merchant_id)
        return await self.keys.use_newest(app_id)

    async def _app(self, app_id: str, merchant_id: int | None) -> App:
        app = await self.apps.get(app_id)
        if merchant_id is not None and app.merchant_id != merchant_id:
            raise AppNotFound("no such app", app_id=app_id)
        return app

    async def app_certificates(self, app_id: str) -> CertificateSet:
        """The app's certificate, the platform key's and the root's (issued on first ask)."""
        return await self.certificates.for_merchant(await self.apps.get(app_id))
