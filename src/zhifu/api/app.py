"""The FastAPI application: thin routers over the runtime's services."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from zhifu import __version__
from zhifu.api import docs, openapi, problems
from zhifu.api.middleware import InputGuard, RequestContext
from zhifu.api.routers import (
    acquiring,
    cards,
    escrow,
    funding,
    gateway,
    merchant,
    merchant_apps,
    merchant_trades,
    merchant_webhooks,
    open_v3,
    pay,
    system,
    transfers,
    users,
    wallet,
)
from zhifu.runtime import Runtime
from zhifu.web import checkout, portal, site
from zhifu.web import wallet as web_wallet
from zhifu.web.kit import STATIC_DIR
from zhifu.web.kit import deps as web_deps
from zhifu.web.wallet import paying

DESCRIPTION = """
zhifu's REST API. Amounts are integers of minor units (fen for CNY) with an ISO 4217
currency. Every call that moves money needs an `Idempotency-Key` header: a retry with
the same key returns the first result; the same key with a different request is refused.
Errors are RFC 9457 `application/problem+json` with a stable `code`.
"""


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="zhifu",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    problems.install(app)
    web_deps.install(app)  # the web apps' "signed in" and "CSRF checked" answer pages
    for router in (
        system.router,
        users.router,
        cards.router,
        transfers.router,
        wallet.router,
        funding.router,
        pay.router,
        acquiring.router,
        merchant.router,
        merchant_apps.router,
        merchant_trades.router,
        merchant_webhooks.router,
        escrow.router,
        checkout.router,
        site.router,
        web_wallet.router,
        portal.router,
        gateway.router,
        open_v3.router,
    ):
        app.include_router(router)
    openapi.install(app)
    docs.install(app)  # before /static: it mounts under /static/api-docs
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(
        InputGuard,
        max_body_bytes=runtime.settings.server.max_body_bytes,
        body_limits={"/wallet/scan": paying.SCAN_MAX_BODY_BYTES},
        # the Alipay doors check their own parameters and answer in Alipay's form
        exempt=["/gateway.do", "/v3/alipay/"],
    )
    app.add_middleware(RequestContext)
    return app
