"""`zhifu serve`: the API and the worker in one process, shut down cleanly on Ctrl-C.

The port is bound before anything else starts, so a taken port is reported at once and
nothing (database, migrations) is started for nothing; uvicorn serves on that socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
import socket
from collections.abc import Iterator

import uvicorn

from zhifu.api.app import create_app
from zhifu.api.middleware import OriginForm
from zhifu.api.parsers import HTTP_PROTOCOL
from zhifu.errors import ZhifuError
from zhifu.logging import configure, get_logger
from zhifu.runtime import Runtime
from zhifu.settings import Settings
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


class CannotListen(ZhifuError):
    code = "cannot_listen"
    title = "Cannot listen on the address"


class PortTaken(CannotListen):
    code = "port_taken"
    title = "The port is taken"


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to host:port for uvicorn to serve on; PortTaken if it is in use."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno != errno.EADDRINUSE:
            raise CannotListen(f"cannot listen on {host}:{port}: {error.strerror}") from error
        raise PortTaken(
            f"port {port} on {host} is already in use (another zhifu, or another program); "
            f"choose another with --port {port + 1} or ZHIFU_PORT={port + 1}"
        ) from error
    sock.set_inheritable(True)
    return sock


def _stop_if_failed(watch: asyncio.Task[None], server: uvicorn.Server) -> None:
    if not watch.cancelled() and watch.exception() is not None:
        server.should_exit = True


async def serve_async(settings: Settings) -> None:
    listening = bind(settings.server.host, settings.server.port)
    try:
        await _serve(settings, listening)
    finally:
        listening.close()


async def _serve(settings: Settings, listening: socket.socket) -> None:
    runtime = await Runtime.start(settings)
    app = OriginForm(create_app(runtime))  # whichever HTTP parser uvicorn picks
    config = uvicorn.Config(
        app,
        host=settings.server.host,
        port=settings.server.port,
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="off",
        http=HTTP_PROTOCOL,  # a request the HTTP parser refuses gets problem+json
    )
    server = _Server(config)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(runtime, stop))
    watch = asyncio.create_task(runtime.watch_database(stop))
    watch.add_done_callback(lambda done: _stop_if_failed(done, server))
    try:
        if settings.server.demo:
            from zhifu.demo_data import seed_and_describe

            print(await seed_and_describe(runtime), flush=True)
        print(
            f"zhifu is running at http://{settings.server.host}:{settings.server.port}  "
            f"(wallet: /wallet/, merchant portal: /merchant/, Alipay gateway: /gateway.do, "
            f"API docs: /docs, health: /healthz, metrics: /metrics; Ctrl-C to stop)",
            flush=True,
        )
        await server.serve(sockets=[listening])
    finally:
        stop.set()
        await worker
        await runtime.close()
        log.info("stopped")
    await watch  # raises if the database died for good: zhifu exits 1


def serve(settings: Settings) -> None:
    configure(settings.server.log_level)
    try:
        import uvloop

        uvloop.run(serve_async(settings))
    except ImportError:
        asyncio.run(serve_async(settings))
