"""Run real `zhifu` processes for end-to-end tests: a server on a free port, CLI commands."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ZHIFU = [sys.executable, "-m", "zhifu.cli.main"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_args(data_dir: Path | None, database_url: str | None) -> list[str]:
    if database_url:
        return ["--database-url", database_url]
    assert data_dir is not None
    return ["--data-dir", str(data_dir)]


def cli(*args: str, data_dir: Path | None = None, database_url: str | None = None) -> Any:
    """Run `zhifu ARGS --json` and return its parsed JSON output."""
    command = [*ZHIFU, *args, *database_args(data_dir, database_url), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return json.loads(done.stdout)


class ServerProcess:
    """`zhifu serve` in a child process, on the embedded database or an external one."""

    def __init__(
        self,
        *,
        data_dir: Path | None = None,
        database_url: str | None = None,
        demo: bool = False,
        host: str = "127.0.0.1",
        port: int | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.demo = demo
        self.host = host
        self.port = port or free_port()
        self.url = f"http://{host}:{self.port}"
        self.process: subprocess.Popen[str] | None = None
        logs = Path(os.environ.get("TMPDIR", "/tmp"))
        self.log_path = logs / f"zhifu-e2e-{host}-{self.port}.log"

    def start(self, timeout: float = 60) -> ServerProcess:
        args = [*ZHIFU, "serve", "--host", self.host, "--port", str(self.port)]
        args += database_args(self.data_dir, self.database_url)
        if self.demo:
            args.append("--demo")
        log = self.log_path.open("a")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server did not start: {self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> int:
        """Ctrl-C, as a user would, and wait for a clean exit."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=60)
        return int(self.process.returncode)

    def output(self) -> str:
        return self.log_path.read_text()
