"""`zhifu serve`: the API and the worker in one process, shut down cleanly on Ctrl-C."""

from __future__ import annotations

import asyncio

import uvicorn

from zhifu.api.app import create_app
from zhifu.config import Settings
from zhifu.logging import configure, get_logger
from zhifu.runtime import Runtime
from zhifu.worker import run_worker

log = get_logger("zhifu.server")


async def serve_async(settings: Settings) -> None:
    runtime = await Runtime.start(settings)
    app = create_app(runtime)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(runtime, stop))
    try:
        if settings.demo:
            from zhifu.demo_data import seed_and_describe

            print(await seed_and_describe(runtime), flush=True)
        print(
            f"zhifu is running at http://{settings.host}:{settings.port}  "
            f"(API docs: /docs, health: /healthz, metrics: /metrics; Ctrl-C to stop)",
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
