"""Settings, each readable from a ZHIFU_* environment variable."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import platformdirs


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("zhifu"))


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    demo: bool = False
    # The bank simulator: how long each call takes, and how long a timed-out request
    # takes to get its final answer.
    bank_latency_ms: float = 0.0
    bank_settle_delay_s: float = 10.0
    # Encrypts the platform's private keys in the database (ZHIFU_KEY_PASSPHRASE); every
    # process on one database must be given the same one.
    key_passphrase: str | None = field(default=None, repr=False)
    # The largest request body the HTTP API reads (ZHIFU_MAX_BODY_BYTES); larger is a 413.
    # The wallet's scan page takes pictures up to its own limit (8 MiB).
    max_body_bytes: int = 1024 * 1024
    # Hosts and networks that webhooks and notify_urls may reach although they are not
    # public (ZHIFU_WEBHOOK_ALLOW_HOSTS, comma-separated: "127.0.0.1,10.0.0.0/8").
    webhook_allow_hosts: tuple[str, ...] = ()
    # Connections to the database one process opens at most (ZHIFU_DB_POOL_SIZE).
    db_pool_size: int = 20

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        settings = cls()
        if "ZHIFU_DATA_DIR" in env:
            settings = replace(settings, data_dir=Path(env["ZHIFU_DATA_DIR"]))
        if env.get("ZHIFU_DATABASE_URL"):
            settings = replace(settings, database_url=env["ZHIFU_DATABASE_URL"])
        if "ZHIFU_HOST" in env:
            settings = replace(settings, host=env["ZHIFU_HOST"])
        if "ZHIFU_PORT" in env:
            settings = replace(settings, port=int(env["ZHIFU_PORT"]))
        if "ZHIFU_DEMO" in env:
            settings = replace(settings, demo=env["ZHIFU_DEMO"].lower() in {"1", "true", "yes"})
        if "ZHIFU_BANK_LATENCY_MS" in env:
            settings = replace(settings, bank_latency_ms=float(env["ZHIFU_BANK_LATENCY_MS"]))
        if "ZHIFU_BANK_SETTLE_DELAY_S" in env:
            delay = float(env["ZHIFU_BANK_SETTLE_DELAY_S"])
            settings = replace(settings, bank_settle_delay_s=delay)
        if env.get("ZHIFU_KEY_PASSPHRASE"):
            settings = replace(settings, key_passphrase=env["ZHIFU_KEY_PASSPHRASE"])
        if "ZHIFU_MAX_BODY_BYTES" in env:
            settings = replace(settings, max_body_bytes=int(env["ZHIFU_MAX_BODY_BYTES"]))
        if env.get("ZHIFU_WEBHOOK_ALLOW_HOSTS"):
            hosts = tuple(h.strip() for h in env["ZHIFU_WEBHOOK_ALLOW_HOSTS"].split(",") if h)
            settings = replace(settings, webhook_allow_hosts=hosts)
        if "ZHIFU_DB_POOL_SIZE" in env:
            settings = replace(settings, db_pool_size=int(env["ZHIFU_DB_POOL_SIZE"]))
        given = {k: v for k, v in overrides.items() if v is not None}
        return replace(settings, **given)  # type: ignore[arg-type]
