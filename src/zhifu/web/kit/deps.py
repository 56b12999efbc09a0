"""What a page's handler asks FastAPI for: the runtime's services, and ids in bounds."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from zhifu.runtime import Runtime

# The largest id a path or query may carry (PostgreSQL bigint): larger is not found.
MAX_ID = 2**63 - 1


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
