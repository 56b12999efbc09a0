"""Wiring: the database (embedded or external), migrations, and the services on top.

`Runtime.start(settings)` is what `zhifu serve` and every CLI command use, so they all
reach the same database: with no database URL, the embedded server in the data
directory (joined if another zhifu process already runs it).

`zhifu serve` also runs `watch_database`: should the embedded server die, requests are
refused at once (503) while it is started again, and zhifu exits non-zero if it will not
start, for a supervisor to restart the whole.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from zhifu.clock import Clock, SystemClock
from zhifu.db import Database
from zhifu.db.due import Job
from zhifu.db.embedded import embedded_running, restart_embedded, start_embedded, stop_embedded
from zhifu.db.migrate import upgrade
from zhifu.errors import ServiceUnavailable
from zhifu.events import Destinations, Dispatcher
from zhifu.funding import BankConnector, BankSimulator, FundingService
from zhifu.identity import CardService, UserService, load_tokenizer_secret
from zhifu.identity.kyc import KycService, SimulatedIdentityCheck
from zhifu.ledger import Ledger
from zhifu.logging import get_logger
from zhifu.openplatform.service import OpenPlatform
from zhifu.payments import Payments
from zhifu.reporting import Reporting
from zhifu.settings import Settings
from zhifu.transfers import TransferService

__all__ = ["Job", "Runtime", "resolve_database_url"]

log = get_logger("zhifu.runtime")
WATCH_INTERVAL = 1.0  # seconds between looks at the embedded server


async def resolve_database_url(settings: Settings) -> str:
    if settings.db.database_url:
        return settings.db.database_url
    return await asyncio.to_thread(start_embedded, settings.db.data_dir)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    clock: Clock
    ledger: Ledger
    users: UserService
    cards: CardService
    transfers: TransferService
    webhooks: Dispatcher
    bank: BankConnector
    funding: FundingService
    payments: Payments
    reporting: Reporting
    openplatform: OpenPlatform
    kyc: KycService
    jobs: list[Job] = field(default_factory=list)

    @classmethod
    async def start(
        cls, settings: Settings, *, clock: Clock | None = None, migrate: bool = True
    ) -> Runtime:
        url = await resolve_database_url(settings)
        if migrate:
            await asyncio.to_thread(upgrade, url)
        size = settings.db.db_pool_size
        db = Database(url, min_size=min(2, size), max_size=size)
        await db.open()
        clock = clock or SystemClock()
        secret = await asyncio.to_thread(load_tokenizer_secret, settings.db.data_dir)
        ledger, users = Ledger(db, clock), UserService(db, clock)
        cards = CardService(db, clock, secret)
        bank = BankSimulator.from_settings(db, clock, settings.bank, settings.db.data_dir)
        funding = FundingService(db, clock, ledger, users, cards, bank)
        destinations = Destinations(settings.webhooks.allow_hosts)
        payments = Payments.build(db, clock, users, secret, funding, destinations=destinations)
        reporting = Reporting.build(db, clock)
        openplatform = OpenPlatform.build(
            db,
            clock,
            payments,
            reporting,
            users,
            key_passphrase=settings.openplatform.key_passphrase,
        )
        runtime = cls(
            settings=settings,
            db=db,
            clock=clock,
            ledger=ledger,
            users=users,
            cards=cards,
            transfers=TransferService(db, clock, ledger, users),
            webhooks=Dispatcher(
                db, clock, channels=[openplatform.notifications], destinations=destinations
            ),
            bank=bank,
            funding=funding,
            payments=payments,
            reporting=reporting,
            openplatform=openplatform,
            kyc=KycService(db, clock, users, SimulatedIdentityCheck()),
        )
        await runtime.openplatform.keys.current()  # the platform key pair, made on first start
        bank.on_callback(runtime.funding.on_bank_callback)
        runtime.jobs = [  # each capability lists its own
            *ledger.jobs(),
            *runtime.webhooks.jobs(),
            *funding.jobs(),
            *bank.jobs(),
            *payments.jobs(),
            *runtime.kyc.jobs(),
            *users.jobs(),
        ]
        return runtime

    async def watch_database(self, stop: asyncio.Event) -> None:
        """Until `stop`, restart the embedded server whenever it dies; raise
        ServiceUnavailable if it will not start again."""
        if self.settings.db.database_url:
            return  # an external server is someone else's to restart
        while not stop.is_set():
            if not embedded_running(self.settings.db.data_dir):
                await self._restart_database()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=WATCH_INTERVAL)

    async def _restart_database(self) -> None:
        log.error("the embedded database died; restarting it")
        await self.db.lost()
        try:
            await asyncio.to_thread(restart_embedded, self.settings.db.data_dir)
            await self.db.regained()
        except Exception as error:
            raise ServiceUnavailable("the embedded database died and does not start") from error
        log.info("the embedded database is back")

    async def close(self) -> None:
        await self.webhooks.close()
        await self.ledger.close()
        await self.db.close()
        if not self.settings.db.database_url:
            await asyncio.to_thread(stop_embedded, self.settings.db.data_dir)
