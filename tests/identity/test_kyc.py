"""KYC tier requests: users ask, an identity check or an operator decides."""

from __future__ import annotations

import asyncio
import json
import tempfile
import uuid
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from tests.identity.support import new_user, random_phone
from zhifu.cli.main import app as cli
from zhifu.clock import ManualClock
from zhifu.db import Database
from zhifu.errors import IdempotencyConflict, InvalidRequest, InvalidStateTransition
from zhifu.identity import KYC_LIMITS, User, UserService
from zhifu.identity.kyc import (
    KycRequestPending,
    KycService,
    KycState,
    KycTierNotHigher,
    SimulatedIdentityCheck,
    Verdict,
)

REFUSED_PHONE = "+8613900000000"


@pytest.fixture
def users(db: Database, clock: ManualClock) -> UserService:
    return UserService(db, clock)


@pytest.fixture
def kyc(db: Database, clock: ManualClock, users: UserService) -> KycService:
    return KycService(db, clock, users, SimulatedIdentityCheck())


async def test_asking_files_a_request_and_changes_no_tier(
    kyc: KycService, users: UserService
) -> None:
    user_id = await new_user(users)
    key = uuid.uuid4().hex
    request = await kyc.request(user_id, 2, idempotency_key=key)
    assert (request.state, request.tier, request.public_id[:4]) == (KycState.PENDING, 2, "kyc_")
    assert await kyc.request(user_id, 2, idempotency_key=key) == request
    with pytest.raises(IdempotencyConflict):
        await kyc.request(user_id, 3, idempotency_key=key)
    with pytest.raises(KycRequestPending):
        await kyc.request(user_id, 3, idempotency_key=uuid.uuid4().hex)
    assert (await users.get(user_id)).kyc_tier == 0
    assert await kyc.latest(user_id) == request
    assert request in await kyc.pending(limit=10_000)


async def test_concurrent_requests_leave_one_pending(kyc: KycService, users: UserService) -> None:
    user_id = await new_user(users)
    results = await asyncio.gather(
        *[kyc.request(user_id, 1, idempotency_key=uuid.uuid4().hex) for _ in range(10)],
        return_exceptions=True,
    )
    assert sum(isinstance(r, KycRequestPending) for r in results) == 9


async def test_only_a_higher_tier_can_be_asked_for(kyc: KycService, users: UserService) -> None:
    user_id = await new_user(users, tier=2)
    for tier in (0, 2):
        with pytest.raises(KycTierNotHigher):
            await kyc.request(user_id, tier)
    with pytest.raises(InvalidRequest):
        await kyc.request(user_id, 4)


async def test_the_simulated_check_approves_tier_one_and_leaves_the_rest(
    db: Database, clock: ManualClock, users: UserService
) -> None:
    check = SimulatedIdentityCheck(refused_phones=frozenset({REFUSED_PHONE}))
    kyc = KycService(db, clock, users, check)
    easy, hard = await new_user(users), await new_user(users)
    refused = await new_user(users, phone=REFUSED_PHONE[3:])
    asked = [
        await kyc.request(easy, 1),
        await kyc.request(hard, 3),
        await kyc.request(refused, 1),
    ]
    while await kyc.run_checks():  # every due request (other tests' too) until none
        pass
    approved, waiting, rejected = [await kyc.get(r.public_id) for r in asked]
    assert (approved.state, approved.decided_by) == (KycState.APPROVED, check.name)
    assert (await users.get(easy)).kyc_tier == 1
    assert waiting.state == KycState.PENDING and (await users.get(hard)).kyc_tier == 0
    assert rejected.state == KycState.REJECTED and rejected.reason


class FlakyCheck:
    """Down the first time it is asked about `user_id`; then approves them. Leaves
    everyone else (other tests' requests in the same database) to an operator."""

    name = "flaky"

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        self.calls = 0

    async def check(self, user: User, tier: int) -> Verdict | None:
        if user.id != self.user_id:
            return None
        self.calls += 1
        if self.calls == 1:
            raise ConnectionError("the provider is down")
        return Verdict(approved=True)


async def test_a_failed_check_is_asked_again_later(
    db: Database, clock: ManualClock, users: UserService
) -> None:
    user_id = await new_user(users)
    check = FlakyCheck(user_id)
    kyc = KycService(db, clock, users, check)
    request = await kyc.request(user_id, 2)
    while await kyc.run_checks():
        pass
    assert check.calls == 1 and (await kyc.get(request.public_id)).state == KycState.PENDING
    clock.advance(timedelta(hours=2))
    while await kyc.run_checks():
        pass
    assert (await kyc.get(request.public_id)).state == KycState.APPROVED
    assert (await users.get(user_id)).limits == KYC_LIMITS[2]


async def test_decisions_follow_the_state_machine(kyc: KycService, users: UserService) -> None:
    user_id = await new_user(users)
    first = await kyc.request(user_id, 3)
    with pytest.raises(InvalidRequest):
        await kyc.reject(first.public_id, by="op", reason="  ")
    rejected = await kyc.reject(first.public_id, by="op", reason="blurred ID photo")
    assert (rejected.state, rejected.reason) == (KycState.REJECTED, "blurred ID photo")
    with pytest.raises(InvalidStateTransition):
        await kyc.approve(first.public_id, by="op")
    assert (await users.get(user_id)).kyc_tier == 0
    second = await kyc.request(user_id, 3)  # a rejected request can be made again
    assert (await kyc.approve(second.public_id, by="op")).state == KycState.APPROVED
    assert (await users.get(user_id)).kyc_tier == 3
    with pytest.raises(InvalidStateTransition):
        await kyc.reject(second.public_id, by="op", reason="changed my mind")


def test_the_operator_cli_lists_approves_and_rejects(database_url: str) -> None:
    runner = CliRunner()
    where = ["--database-url", database_url, "--data-dir", tempfile.mkdtemp(), "--json"]
    phones = [random_phone(), random_phone()]
    ids = []
    for phone in phones:
        made = runner.invoke(
            cli, ["user", "create", "--phone", phone, "--password", "pw-12345678", *where]
        )
        assert made.exit_code == 0, made.output
        ids.append(json.loads(made.stdout)["id"])
    requests = asyncio.run(_ask(database_url, ids))
    listed = runner.invoke(cli, ["kyc", "list", *where])
    assert listed.exit_code == 0, listed.output
    queued = {row["id"]: row for row in json.loads(listed.stdout)}
    assert queued[requests[0]]["phone"] == "+86" + phones[0]
    approved = runner.invoke(cli, ["kyc", "approve", requests[0], *where])
    assert approved.exit_code == 0, approved.output
    assert (json.loads(approved.stdout)["status"], json.loads(approved.stdout)["current_tier"]) == (
        "approved",
        3,
    )
    rejected = runner.invoke(cli, ["kyc", "reject", requests[1], "--reason", "no ID", *where])
    assert json.loads(rejected.stdout)["current_tier"] == 0
    again = runner.invoke(cli, ["kyc", "approve", requests[1], *where])
    assert again.exit_code == 1 and "invalid_state_transition" in again.output


async def _ask(database_url: str, user_ids: list[int]) -> list[str]:
    async with Database(database_url, min_size=1, max_size=2) as db:
        clock = ManualClock()
        kyc = KycService(db, clock, UserService(db, clock), SimulatedIdentityCheck())
        return [(await kyc.request(user_id, 3)).public_id for user_id in user_ids]
