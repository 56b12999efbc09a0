"""A merchant's app as the public Alipay SDKs see it, driven in the SDKs' own venvs.

Each SDK is installed in a venv of its own by the Makefile (they share the package name
`alipay`); `make test` names their interpreters in ZHIFU_FZLEE_PYTHON and
ZHIFU_OFFICIAL_PYTHON. The drivers (fzlee_driver.py, official_driver.py) read a JSON job
on stdin and print JSON results; see sdk_threads.py for jobs of concurrent clients.

Ant's official SDK only reaches ports 80 and 443 (an explicit port in its server_url
crashes it), so `loopback_server` runs `zhifu serve` on port 80 of a random address in
127.0.0.0/8: concurrent test runs on one machine do not collide, and the tests need root
or CAP_NET_BIND_SERVICE, which CI has. `Inbox` is a merchant's notify_url on loopback.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import random
import socket
import subprocess
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from tests.e2e.harness import ServerProcess
from tests.openplatform.alipay_client import new_key, pkcs1_private_pem, spki_pem
from zhifu.openplatform.signing import pem_body
from zhifu.runtime import Runtime

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Sdk:
    name: str
    variable: str  # the environment variable naming the SDK venv's interpreter
    driver: Path
    gateway_setting: str  # the job's key for the gateway URL

    @property
    def python(self) -> str | None:
        return os.environ.get(self.variable)

    def required(self) -> pytest.MarkDecorator:
        """Skip when the variable is unset (`make test` always sets it)."""
        return pytest.mark.skipif(
            not self.python, reason=f"{self.variable} is unset: run `make test`"
        )


FZLEE = Sdk("python-alipay-sdk 3.4.0", "ZHIFU_FZLEE_PYTHON", HERE / "fzlee_driver.py", "gateway")
OFFICIAL = Sdk(
    "alipay-sdk-python 3.7.1411",
    "ZHIFU_OFFICIAL_PYTHON",
    HERE / "official_driver.py",
    "server_url",
)


class SdkApp:
    """One app configured in one SDK: its gateway URL, app_id and keys."""

    def __init__(self, sdk: Sdk, job: dict[str, Any]) -> None:
        self.sdk = sdk
        self.job = job

    def variant(self, **job: str) -> SdkApp:
        """The same configuration with some settings changed (another key, app_id...)."""
        return SdkApp(self.sdk, {**self.job, **job})

    def _drive(self, work: dict[str, Any]) -> Any:
        assert self.sdk.python, f"{self.sdk.variable} is unset"
        done = subprocess.run(
            [self.sdk.python, str(self.sdk.driver)],
            input=json.dumps({**self.job, **work}),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def run(self, *calls: dict[str, Any]) -> list[dict[str, Any]]:
        """The calls one after another from one client."""
        results: list[dict[str, Any]] = self._drive({"calls": list(calls)})
        return results

    def run_clients(self, clients: list[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
        """Each list of calls from a client of its own, all clients at once."""
        results: list[list[dict[str, Any]]] = self._drive({"clients": clients})
        assert [len(r) for r in results] == [len(c) for c in clients], results
        return results

    def call(self, method: str, biz: dict[str, Any], **more: Any) -> dict[str, Any]:
        """One call's verified answer (the node inside `<method>_response`)."""
        (result,) = self.run({"method": method, "biz": biz, **more})
        assert "response" in result, result
        response: dict[str, Any] = result["response"]
        return response


async def register_app(
    runtime: Runtime, sdk: Sdk, gateway: str, merchant_id: int, **options: Any
) -> SdkApp:
    """A new app for the merchant (its key pair made here), configured in the SDK."""
    key = new_key()
    app = await runtime.openplatform.create_app(merchant_id, spki_pem(key), **options)
    platform = await runtime.openplatform.platform_public_key()
    official = sdk is OFFICIAL
    return SdkApp(
        sdk,
        {
            sdk.gateway_setting: gateway,
            "app_id": app.app_id,
            "app_private_key": pkcs1_private_pem(key),  # PKCS#1: the official SDK needs it
            "alipay_public_key": pem_body(platform) if official else platform,
        },
    )


def loopback_address() -> str:
    return f"127.{random.randrange(1, 255)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def loopback_server(database_url: str, data_dir: Path) -> ServerProcess:
    """`zhifu serve` started on port 80 of a free random loopback address."""
    for _ in range(10):
        host = loopback_address()
        with socket.socket() as probe:
            try:
                probe.bind((host, 80))
            except PermissionError:
                raise AssertionError(
                    "port 80 needs root or CAP_NET_BIND_SERVICE (Ant's SDK cannot use another)"
                ) from None
            except OSError:
                continue
        server = ServerProcess(data_dir=data_dir, database_url=database_url, host=host, port=80)
        return server.start()
    raise AssertionError("no free loopback address for port 80")


class Inbox:
    """A merchant's notify_url on loopback: keeps each form POST, answers `success`."""

    def __init__(self) -> None:
        received: queue.Queue[dict[str, str]] = queue.Queue()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                received.put(dict(parse_qsl(body)))
                self.send_response(200)
                self.send_header("Content-Length", "7")
                self.end_headers()
                self.wfile.write(b"success")

            def log_message(self, *args: Any) -> None:
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/alipay/notify"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    async def next(self) -> dict[str, str]:
        return await asyncio.to_thread(self.received.get, timeout=60)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
