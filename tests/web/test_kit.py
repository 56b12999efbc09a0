"""The kit the web apps share: every form checked for CSRF by one dependency, the sign-in
check before it, one catalogue of error texts, sign-in going back only within its app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from tests.web.wallet_support import Wallets
from zhifu.errors import ZhifuError
from zhifu.runtime import Runtime
from zhifu.web import checkout, portal, wallet
from zhifu.web.kit import errors, signin
from zhifu.web.kit.deps import csrf_checked

CSRF_CHECK = csrf_checked.__qualname__ + ".<locals>.check"


@pytest.fixture
async def wallets(runtime: Runtime) -> AsyncIterator[Wallets]:
    people = Wallets(runtime)
    yield people
    await people.close()


def dependencies(dependant: Dependant) -> Iterator[str]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call.__qualname__
        yield from dependencies(sub)


def routes(router: APIRouter) -> Iterator[APIRoute]:
    """The router's routes, those of the routers it includes too."""
    for route in router.routes:
        included = getattr(route, "original_router", None)
        if isinstance(included, APIRouter):
            yield from routes(included)
        elif isinstance(route, APIRoute):
            yield route


def test_every_form_of_the_web_apps_is_csrf_checked() -> None:
    posts = [
        route
        for app in (wallet.router, portal.router, checkout.router)
        for route in routes(app)
        if "POST" in route.methods
    ]
    assert len(posts) > 20
    unchecked = [route.path for route in posts if CSRF_CHECK not in dependencies(route.dependant)]
    assert unchecked == []


async def test_a_stranger_is_sent_to_sign_in_before_the_form_is_checked(
    wallets: Wallets,
) -> None:
    stranger = wallets.browser()
    answer = await stranger.http.post("/wallet/topup", data={"card_id": "1", "amount": "10"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/wallet/login?next=/wallet/"


def test_sign_in_goes_back_only_to_a_page_of_its_own_app() -> None:
    assert (
        signin.back_to("/wallet/bills?kind=transfer", "/wallet/") == "/wallet/bills?kind=transfer"
    )
    assert signin.back_to("/merchant/trades", "/wallet/") == "/wallet/"
    assert signin.back_to("//evil.example/wallet/", "/wallet/") == "/wallet/"
    assert signin.back_to("https://evil.example/", "/merchant/") == "/merchant/"


class Declined(ZhifuError):
    code = "card_declined"


class Odd(ZhifuError):
    code = "odd"


def test_the_catalogue_words_refusals_and_places_them() -> None:
    declined = Declined("declined", decline_reason="insufficient_funds")
    assert errors.refusal(declined, str) == {"card": "Your bank declined the card. Choose another."}
    assert errors.refusal(declined, str, errors.PAY_FIELDS) == {
        "source": "Your bank declined the card. Choose another."
    }
    checkout = errors.error_message(declined, str, errors.CHECKOUT, own_words=True)
    assert checkout == "Your bank declined the card (insufficient funds). Choose another."
    odd = Odd("something odd happened")
    assert errors.error_message(odd, str) == errors.GENERIC
    assert errors.error_message(odd, str, errors.CHECKOUT, own_words=True) == (
        "Something odd happened."
    )
    assert set(errors.CHECKOUT) <= set(errors.MESSAGES)  # the checkout words no new codes
