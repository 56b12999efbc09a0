"""Each capability registers its own background jobs; the runtime gathers all of them."""

from __future__ import annotations

from typing import Any

from zhifu.runtime import Runtime


async def test_the_runtime_gathers_every_capabilitys_jobs(runtime: Runtime) -> None:
    owners: dict[str, Any] = {
        "ledger": runtime.ledger,
        "events": runtime.webhooks,
        "funding": runtime.funding,
        "bank simulator": runtime.bank,
        "payments": runtime.payments,
        "identity (kyc)": runtime.kyc,
        "identity (sign-in)": runtime.users,
    }
    registered = {
        owner: [name for name, _, _ in service.jobs()] for owner, service in owners.items()
    }
    assert registered == {
        "ledger": ["expire-holds"],
        "events": ["deliver-webhooks"],
        "funding": ["finish-funding-orders"],
        "bank simulator": ["bank-simulator-callbacks", "bank-simulator-statements"],
        "payments": [
            "expire-trades",
            "finish-trades",
            "auto-confirm-escrow",
            "complete-card-payments",
        ],
        "identity (kyc)": ["kyc-checks"],
        "identity (sign-in)": ["forget-old-attempts"],
    }
    everything = [name for names in registered.values() for name in names]
    assert sorted(name for name, _, _ in runtime.jobs) == sorted(everything)
