"""Alembic migrations, run programmatically (no alembic.ini needed).

An advisory lock makes concurrent starts (two servers, a server and a CLI command)
migrate once.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_ID = 7_770_001


def _engine(url: str) -> Engine:
    """An engine over any libpq connection string (URL or key=value form)."""
    return create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(url))


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(url: str, revision: str = "head") -> None:
    engine = _engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("select pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
            command.upgrade(alembic_config(connection), revision)
    finally:
        engine.dispose()


def downgrade(url: str, revision: str) -> None:
    engine = _engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("select pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
            command.downgrade(alembic_config(connection), revision)
    finally:
        engine.dispose()
