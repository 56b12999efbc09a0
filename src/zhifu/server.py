"""`zhifu serve`: the API and the worker in one process, shut down cleanly on Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator

import uvicorn

from zhifu.api.app import create_app
from zhifu.api.middleware import OriginForm
from zhifu.config import Settings
from zhifu.logging import configure, get_logger
from zhifu.runtime import Runtime
from zhifu.worker import run_worker

log = get_logger("zhifu.server")


class _Server(uvicorn.Server):
    """Uvicorn re-raises Ctrl-C after it stops; zhifu still has to stop its worker and
    the embedded database, then exit 0, so it only records the signal."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        signals = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in signals}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


async def serve_async(settings: Settings) -> None:
    runtime = await Runtime.start(settings)
    app = OriginForm(create_app(runtime))  # whichever HTTP parser uvicorn picks
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="off",
    )
    server = _Server(config)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(runtime, stop))
    try:
        if settings.demo:
            from zhifu.demo_data import seed_and_describe

            print(await seed_and_describe(runtime), flush=True)
        print(
            f"zhifu is running at http://{settings.host}:{settings.port}  "
            f"(wallet: /wallet/, merchant portal: /merchant/, Alipay gateway: /gateway.do, "
            f"API docs: /docs, health: /healthz, metrics: /metrics; Ctrl-C to stop)",
            flush=True,
        )
        await server.serve()
    finally:
        stop.set()
        await worker
        await runtime.close()
        log.info("stopped")


def serve(settings: Settings) -> None:
    configure()
    try:
        import uvloop

        uvloop.run(serve_async(settings))
    except ImportError:
        asyncio.run(serve_async(settings))
