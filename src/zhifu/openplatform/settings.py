"""The open platform's settings."""

from __future__ import annotations

from pydantic import Field

from zhifu.config import CapabilitySettings


class OpenPlatformSettings(CapabilitySettings):
    # ZHIFU_KEY_PASSPHRASE: encrypts the platform's private keys (and the apps' AES keys)
    # in the database; every process on one database must be given the same one.
    key_passphrase: str | None = Field(default=None, repr=False)
