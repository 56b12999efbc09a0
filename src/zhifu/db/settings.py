"""The database's settings: which server, where the embedded one lives, how many
connections one process opens."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import Field

from zhifu.config import CapabilitySettings


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("zhifu"))


class DatabaseSettings(CapabilitySettings):
    # ZHIFU_DATABASE_URL: a PostgreSQL server to use; unset, the embedded one.
    database_url: str | None = None
    # ZHIFU_DATA_DIR: the embedded server's data, the card tokeniser's secret, the bank
    # simulator's statements.
    data_dir: Path = Field(default_factory=default_data_dir)
    # ZHIFU_DB_POOL_SIZE: connections to the database one process opens at most.
    db_pool_size: int = Field(default=20, ge=1)
