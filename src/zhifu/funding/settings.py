"""The bank simulator's settings: how slow the simulated bank is."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from zhifu.config import CapabilitySettings


class BankSimulatorSettings(CapabilitySettings):
    model_config = SettingsConfigDict(env_prefix="ZHIFU_BANK_")

    # ZHIFU_BANK_LATENCY_MS: how long each bank call takes.
    latency_ms: float = Field(default=0.0, ge=0)
    # ZHIFU_BANK_SETTLE_DELAY_S: how long a timed-out request takes to get its final answer.
    settle_delay_s: float = Field(default=10.0, ge=0)
