"""The one `Settings` of a zhifu process: each capability's own model, side by side.

Placed over the capabilities (whose models it gathers) and under the runtime (which it
configures); the kernel's `zhifu.config` says how every model reads its variables.
`Settings.from_env()` reads them all; tests construct `Settings(db=DatabaseSettings(...))`
with what they need, and each capability left out reads its variables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Self, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator

from zhifu.config import CapabilitySettings
from zhifu.db.settings import DatabaseSettings
from zhifu.events.settings import WebhookSettings
from zhifu.funding.settings import BankSimulatorSettings
from zhifu.openplatform.settings import OpenPlatformSettings


class ServerSettings(CapabilitySettings):
    """How `zhifu serve` runs: where it listens, what it reads, what it seeds."""

    # ZHIFU_HOST, ZHIFU_PORT: where `zhifu serve` listens.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # ZHIFU_MAX_BODY_BYTES: the largest request body the HTTP API reads; larger is a 413.
    # The wallet's scan page takes pictures up to its own limit (8 MiB).
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    # ZHIFU_DEMO: seed the demo users, cards and merchant at start.
    demo: bool = False
    # ZHIFU_LOG_LEVEL: the least severe log line written (INFO logs every request).
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("log_level", mode="before")
    @classmethod
    def _any_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    server: ServerSettings = Field(default_factory=ServerSettings)
    db: DatabaseSettings = Field(default_factory=DatabaseSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    bank: BankSimulatorSettings = Field(default_factory=BankSimulatorSettings)
    openplatform: OpenPlatformSettings = Field(default_factory=OpenPlatformSettings)

    @classmethod
    def capabilities(cls) -> dict[str, type[CapabilitySettings]]:
        """Each part's name and model."""
        return {
            name: cast(type[CapabilitySettings], field.annotation)
            for name, field in cls.model_fields.items()
        }

    @classmethod
    def from_env(cls, **given: Mapping[str, Any]) -> Self:
        """Every capability from its variables, with `given` winning (per part, by field:
        `db={"data_dir": ...}`; None: not given); a bad value is an InvalidSetting."""
        parts = {
            name: model.read(**given.get(name, {})) for name, model in cls.capabilities().items()
        }
        return cls(**parts)
