"""The bank simulator behaves like a bank: declines by card, timeouts that resolve later,
repeated callbacks, one movement per reference, a statement of what it moved."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import pytest

from tests.funding.support import Recorder, key
from zhifu.clock import ManualClock, business_day
from zhifu.db import Database
from zhifu.funding import (
    BankResult,
    BankSimulator,
    BankStatus,
    ChargeRequest,
    DeclineReason,
    PayoutRequest,
    ReferenceReused,
    scenario_for,
)
from zhifu.funding.simulator import SINGLE_LIMIT, STATEMENT_COLUMNS


def charge(
    last4: str = "1111", amount: int = 10_000, reference: str | None = None
) -> ChargeRequest:
    return ChargeRequest(reference or key(), "tok_test", last4, amount, "CNY")


def payout(last4: str = "1111", amount: int = 10_000) -> PayoutRequest:
    return PayoutRequest(key(), "tok_test", last4, amount, "CNY")


def test_the_scenario_is_a_function_of_card_and_amount() -> None:
    assert scenario_for("1111", 100).status is BankStatus.SUCCEEDED
    assert scenario_for("0002", 100).reason is DeclineReason.INSUFFICIENT_FUNDS
    assert scenario_for("0003", 100).reason is DeclineReason.CARD_BLOCKED
    assert scenario_for("0004", 100).delayed
    assert scenario_for("0005", 100).callbacks == 2
    assert scenario_for("0006", 100).delayed
    assert scenario_for("0006", 100).status is BankStatus.DECLINED
    assert scenario_for("1111", SINGLE_LIMIT).status is BankStatus.SUCCEEDED
    assert scenario_for("1111", SINGLE_LIMIT + 1).reason is DeclineReason.EXCEEDS_BANK_LIMIT


async def test_an_ordinary_card_is_charged_and_paid(bank: BankSimulator) -> None:
    charged, paid = charge(), payout()
    for request, result in ((charged, await bank.charge(charged)), (paid, await bank.payout(paid))):
        assert result.status is BankStatus.SUCCEEDED and result.final
        assert result.reference == request.reference
        assert result.bank_reference and result.bank_reference.startswith("SIM")
        assert result.decline_reason is None


@pytest.mark.parametrize(
    ("last4", "amount", "reason"),
    [
        ("0002", 10_000, "insufficient_funds"),
        ("0003", 10_000, "card_blocked"),
        ("1111", SINGLE_LIMIT + 1, "exceeds_bank_limit"),
    ],
)
async def test_declines_carry_their_reason(
    bank: BankSimulator, last4: str, amount: int, reason: str
) -> None:
    for result in (
        await bank.charge(charge(last4, amount)),
        await bank.payout(payout(last4, amount)),
    ):
        assert result.status is BankStatus.DECLINED
        assert result.decline_reason == reason


async def test_every_call_takes_the_configured_latency(
    db: Database, clock: ManualClock, tmp_path: Path
) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    slow = BankSimulator(db, clock, tmp_path, latency=0.25, sleep=sleep)
    request = charge()
    await slow.charge(request)
    await slow.payout(payout())
    await slow.status(request.reference)
    assert slept == [0.25, 0.25, 0.25]


async def test_a_timeout_resolves_later_through_status(
    bank: BankSimulator, clock: ManualClock
) -> None:
    request = charge("0004")
    first = await bank.charge(request)
    assert first.status is BankStatus.PENDING and not first.final
    assert await bank.status(request.reference) == first
    clock.advance(bank.settle_delay)
    settled = await bank.status(request.reference)
    assert settled is not None and settled.status is BankStatus.SUCCEEDED
    assert settled.bank_reference == first.bank_reference
    assert await bank.charge(request) == settled  # a retry gets the final answer too


async def test_a_timeout_resolves_later_through_a_callback(
    bank: BankSimulator, clock: ManualClock
) -> None:
    calls = Recorder()
    bank.on_callback(calls)
    approved, declined = charge("0004"), charge("0006")
    await bank.charge(approved)
    await bank.charge(declined)
    assert await bank.deliver_callbacks() == 0 and calls.results == []
    clock.advance(bank.settle_delay)
    assert await bank.deliver_callbacks() == 2
    outcome = {r.reference: (r.status, r.decline_reason) for r in calls.results}
    assert outcome == {
        approved.reference: (BankStatus.SUCCEEDED, None),
        declined.reference: (BankStatus.DECLINED, "do_not_honor"),
    }
    assert await bank.deliver_callbacks() == 0


async def test_each_result_is_called_back_once_or_twice_for_0005(bank: BankSimulator) -> None:
    calls = Recorder()
    bank.on_callback(calls)
    once, twice = charge("1111"), charge("0005")
    results = {r.reference: r for r in [await bank.charge(once), await bank.charge(twice)]}
    assert await bank.deliver_callbacks() == 3
    assert sorted(r.reference for r in calls.results) == sorted(
        [once.reference, twice.reference, twice.reference]
    )
    assert all(r == results[r.reference] for r in calls.results)
    assert await bank.deliver_callbacks() == 0


async def test_a_failed_callback_is_sent_again_later(
    bank: BankSimulator, clock: ManualClock
) -> None:
    calls = Recorder()
    failures = [ConnectionError("receiver down")]

    async def flaky(result: BankResult) -> None:
        if failures:
            raise failures.pop()
        await calls(result)

    bank.on_callback(flaky)
    await bank.charge(charge())
    assert await bank.deliver_callbacks() == 0
    assert await bank.deliver_callbacks() == 0  # not due again yet
    clock.advance(timedelta(seconds=5))
    assert await bank.deliver_callbacks() == 1
    assert len(calls.results) == 1


async def test_a_reference_moves_money_once(bank: BankSimulator, db: Database) -> None:
    request = charge()
    first = await bank.charge(request)
    assert await bank.charge(request) == first
    rows = await db.fetch_all(
        "select count(*) as n from bank_sim_transfer where reference = %s", (request.reference,)
    )
    assert rows[0]["n"] == 1
    with pytest.raises(ReferenceReused):
        await bank.charge(charge(amount=request.amount + 1, reference=request.reference))
    with pytest.raises(ReferenceReused):
        await bank.payout(PayoutRequest(request.reference, "tok_test", "1111", 10_000, "CNY"))


async def test_the_bank_remembers_across_a_restart(
    bank: BankSimulator, db: Database, clock: ManualClock, tmp_path: Path
) -> None:
    request = charge()
    result = await bank.charge(request)
    restarted = BankSimulator(db, clock, tmp_path / "statements")
    assert await restarted.status(request.reference) == result
    assert await restarted.charge(request) == result
    assert await restarted.status("never-sent") is None


def read_statement(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        reader = csv.DictReader(file)
        assert tuple(reader.fieldnames or ()) == STATEMENT_COLUMNS
        return list(reader)


async def test_the_daily_statement_lists_what_was_settled_that_day(
    bank: BankSimulator, clock: ManualClock
) -> None:
    today = business_day(clock.now())
    paid = await bank.charge(charge(amount=1234))
    refused = await bank.payout(payout("0003", amount=500))
    late = charge("0004", amount=700)
    await bank.charge(late)  # pending: in no statement until it settles
    path = await bank.write_statement(today)
    assert path == bank.statements_dir / f"{today.isoformat()}.csv"
    assert read_statement(path) == [
        {
            "date": today.isoformat(),
            "reference": result.reference,
            "bank_reference": str(result.bank_reference),
            "direction": direction,
            "amount": amount,
            "currency": "CNY",
            "status": str(result.status),
        }
        for result, direction, amount in sorted(
            [(paid, "charge", "1234"), (refused, "payout", "500")], key=lambda r: r[0].reference
        )
    ]
    clock.advance(timedelta(days=1))
    settled = await bank.status(late.reference)
    assert settled is not None
    tomorrow = read_statement(await bank.write_statement(today + timedelta(days=1)))
    assert [(row["reference"], row["status"]) for row in tomorrow] == [
        (late.reference, "succeeded")
    ]
    assert len(read_statement(await bank.write_statement(today))) == 2


async def test_the_statement_job_closes_yesterday_once(
    bank: BankSimulator, clock: ManualClock
) -> None:
    await bank.charge(charge())
    clock.advance(timedelta(days=1))
    assert await bank.write_statements() == 1
    assert await bank.write_statements() == 0
    yesterday = business_day(clock.now()) - timedelta(days=1)
    assert len(read_statement(bank.statement_path(yesterday))) == 1
    assert read_statement(bank.statement_path(business_day(clock.now()))) == []
