"""How settings are read: each capability keeps its own typed model of ZHIFU_* variables.

A model is a `CapabilitySettings` (pydantic-settings): each field is the environment
variable of its name under the model's prefix (`ZHIFU_` unless the model says otherwise:
the bank simulator's `latency_ms` is ZHIFU_BANK_LATENCY_MS), typed and defaulted there.
Keywords given to the model win over the environment; an empty variable counts as unset.
A value that does not fit its type is an `InvalidSetting` that names the variable.

The capabilities' models live in their packages (`zhifu.db.settings`,
`zhifu.events.settings`, ...); `zhifu.settings` composes them into the one `Settings`
that the runtime and the CLI pass around.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from zhifu.errors import InvalidSetting


class CapabilitySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ZHIFU_", env_ignore_empty=True, frozen=True, extra="forbid"
    )

    @classmethod
    def variable(cls, field: str) -> str:
        """The environment variable a field is read from."""
        return f"{cls.model_config.get('env_prefix', '')}{field}".upper()

    @classmethod
    def variables(cls) -> list[str]:
        return [cls.variable(field) for field in cls.model_fields]

    @classmethod
    def read(cls, **given: Any) -> Self:
        """The model from the environment, with `given` (None: not given) winning."""
        try:
            return cls(**{field: value for field, value in given.items() if value is not None})
        except ValidationError as error:
            raise InvalidSetting(cls.explain(error)) from None

    @classmethod
    def explain(cls, error: ValidationError) -> str:
        """Each refused value as `VARIABLE: why` (never the value: it may be a secret)."""
        return "; ".join(
            f"{cls.variable(str(problem['loc'][0]))}: {problem['msg']}"
            for problem in error.errors()
        )
