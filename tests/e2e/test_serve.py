"""`zhifu serve` as a user runs it: start, answer, stop cleanly, survive kill -9."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import httpx

from tests.e2e.harness import ZHIFU, ServerProcess, cli


def embedded_postgres_running(data_dir: Path) -> bool:
    found = subprocess.run(
        ["pgrep", "-f", f"postgres.*{data_dir}/pgdata"], capture_output=True, check=False
    )
    return found.returncode == 0


def test_serve_starts_stops_and_survives_kill(tmp_path: Path) -> None:
    server = ServerProcess(data_dir=tmp_path).start()
    assert httpx.get(f"{server.url}/openapi.json").json()["openapi"].startswith("3.1")
    assert httpx.get(f"{server.url}/docs").status_code == 200
    server.kill()

    again = ServerProcess(data_dir=tmp_path).start()
    report = cli("ledger", "verify", data_dir=tmp_path)
    assert report["ok"] is True
    assert again.stop() == 0
    assert not embedded_postgres_running(tmp_path)


def test_serve_on_a_taken_port_says_so_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*ZHIFU, "serve", "--port", str(port), "--data-dir", str(tmp_path / "data")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    said = done.stdout + done.stderr
    assert done.returncode != 0
    assert f"port {port}" in said and "already in use" in said
    assert "--port" in said and "ZHIFU_PORT" in said
    assert "zhifu is running" not in said
    assert not (tmp_path / "data" / "pgdata").exists()
