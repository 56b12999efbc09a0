"""The outgoing deliveries' settings: which non-public destinations they may reach."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from zhifu.config import CapabilitySettings


class WebhookSettings(CapabilitySettings):
    model_config = SettingsConfigDict(env_prefix="ZHIFU_WEBHOOK_")

    # ZHIFU_WEBHOOK_ALLOW_HOSTS: hosts and networks that webhooks and notify_urls may
    # reach although they are not public, comma-separated ("127.0.0.1,10.0.0.0/8").
    allow_hosts: Annotated[tuple[str, ...], NoDecode] = ()

    @field_validator("allow_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(host.strip() for host in value.split(",") if host.strip())
        return value
