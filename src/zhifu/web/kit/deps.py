"""What a page's handler asks FastAPI for: the runtime's services, ids in bounds, and the
two checks every app makes before a handler runs ("signed in", "CSRF checked").

A check that fails answers the request itself (off to sign in, "your form expired") by
raising `Answered`; `install` makes the app send that answer, and the handler never runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import Response

from zhifu.runtime import Runtime
from zhifu.web.kit.session import Visit


async def get_runtime(request: Request) -> Runtime:
    # async: a plain `def` dependency would run in the thread pool on every request
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


class Answered(Exception):
    """A dependency answered the request instead of its handler."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def _answer(request: Request, error: Exception) -> Response:
    assert isinstance(error, Answered)
    return error.response


def install(app: FastAPI) -> None:
    """Let the web apps' dependencies answer requests (see `Answered`)."""
    app.add_exception_handler(Answered, _answer)


# Where a refused form's page links back to: a path, or one made from the request.
BackTo = str | Callable[[Request], str] | None


def back_to_path(back_to: BackTo, request: Request) -> str | None:
    return back_to(request) if callable(back_to) else back_to


def csrf_checked(
    current_visit: Callable[..., Awaitable[Visit]],
    refused: Callable[[Any, Request], Response],
) -> Any:
    """A dependency: the form's `csrf_token` came from a page we showed this browser in
    this session (zhifu.web.kit.csrf); else `refused(visit, request)` answers."""

    async def check(
        request: Request,
        visit: Any = Depends(current_visit),
        csrf_token: str = Form(""),
    ) -> None:
        if not visit.csrf_ok(csrf_token):
            raise Answered(refused(visit, request))

    return Depends(check)
