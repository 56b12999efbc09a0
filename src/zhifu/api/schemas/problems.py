"""The RFC 9457 problem+json body every refusal of the REST API carries."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ProblemDetails(BaseModel):
    """A refusal: `code` is stable (see zhifu.errors); more members may say why."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(description="/problems/<code>")
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable: branch on it, not on the texts")
    instance: str | None = Field(None, description="The path that was refused")
    request_id: str | None = None
