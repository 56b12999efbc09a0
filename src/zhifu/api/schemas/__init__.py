"""Types shared by the routers' request and response bodies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, Field

from zhifu.money import MAX_AMOUNT, check_currency

# An amount in minor units: a JSON integer (no strings, floats or booleans), positive,
# at most MAX_AMOUNT. 12.34 CNY is 1234.
Amount = Annotated[
    int,
    Field(strict=True, gt=0, le=MAX_AMOUNT, description="Minor units (fen), e.g. 1234 = 12.34"),
]
Currency = Annotated[
    str,
    Field(default="CNY", min_length=3, max_length=3, description="ISO 4217 code"),
    AfterValidator(check_currency),
]
# zhifu's number of a trade (its business day and a counter: 24 digits), in a path.
TradeNo = Annotated[str, Path(pattern=r"^[0-9]{1,32}$", description="zhifu's trade number")]
