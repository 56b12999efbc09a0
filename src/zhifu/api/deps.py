"""Dependencies shared by the routers: the runtime, the signed-in user, idempotency keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from zhifu.errors import IdempotencyKeyRequired, InvalidRequest
from zhifu.web.kit.deps import RuntimeDep, get_runtime

__all__ = ["RuntimeDep", "get_runtime"]


IDEMPOTENCY_KEY = "Idempotency-Key"
KEY_REQUIRED = "this call moves money: send an Idempotency-Key header"


def idempotency_key(key: Annotated[str, Header(alias=IDEMPOTENCY_KEY)]) -> str:
    """Every call that moves money carries an Idempotency-Key header (1-255 printable chars);
    without one, api.problems answers 400 `idempotency_key_required`."""
    if not key.strip():
        raise IdempotencyKeyRequired(KEY_REQUIRED)
    if len(key) > 255 or not key.isprintable():
        raise InvalidRequest("the Idempotency-Key must be 1 to 255 printable characters")
    return key


IdempotencyKey = Annotated[str, Depends(idempotency_key)]


def optional_idempotency_key(
    key: Annotated[str | None, Header(alias=IDEMPOTENCY_KEY)] = None,
) -> str | None:
    """For creating calls that natural keys already dedupe: the header is optional."""
    return None if key is None else idempotency_key(key)


OptionalIdempotencyKey = Annotated[str | None, Depends(optional_idempotency_key)]
