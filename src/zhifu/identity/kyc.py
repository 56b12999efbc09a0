"""KYC tier requests: a user asks for a tier, an identity check or an operator decides.

A user never sets their own tier. `request` files a request for a higher tier (one
pending at a time, idempotent under the client's key); the `kyc-checks` job hands each
new request to the identity check, which approves, rejects, or leaves it to an operator
(`zhifu kyc list|approve|reject`). Approving applies the tier and its wallet limits in
the same transaction as the decision. A request is pending, then approved or rejected:

    pending --approve--> approved
    pending --reject---> rejected

The identity check is an interface (`IdentityCheck`); `SimulatedIdentityCheck` stands in
for a real provider: it approves tier 1 (a verified phone number is enough), refuses the
phones it is told to, and leaves higher tiers to an operator. A check that fails or
times out is asked again later, backing off (zhifu.db.due).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from zhifu.clock import Clock
from zhifu.db import idempotency
from zhifu.db.database import Conn, Database
from zhifu.db.due import DuePolling, Job, claim_due
from zhifu.errors import Conflict, InvalidRequest, InvalidStateTransition, NotFound
from zhifu.identity.limits import check_tier
from zhifu.identity.users import User, UserService, set_tier_in
from zhifu.logging import get_logger
from zhifu.states import transition

log = get_logger("zhifu.identity")

CHECK_TIMEOUT = 30.0
_COLUMNS = "id, public_id, user_id, tier, state, reason, decided_by, created_at, decided_at"
_POLLING = DuePolling(
    table="kyc_request",
    waiting="state = 'pending' and next_check_at is not null",
    count_column="check_attempts",
    next_column="next_check_at",
    first=timedelta(seconds=30),
    most=timedelta(hours=1),
)


class KycState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class KycEvent(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


KYC_TRANSITIONS = {
    (KycState.PENDING, KycEvent.APPROVE): KycState.APPROVED,
    (KycState.PENDING, KycEvent.REJECT): KycState.REJECTED,
}


class KycRequestPending(Conflict):
    code = "kyc_request_pending"
    title = "A KYC request is already pending"


class KycTierNotHigher(InvalidRequest):
    code = "kyc_tier_not_higher"
    title = "Requested KYC tier is not above the current one"


@dataclass(frozen=True, slots=True)
class KycRequest:
    id: int
    public_id: str
    user_id: int
    tier: int
    state: KycState
    reason: str | None
    decided_by: str | None
    created_at: datetime
    decided_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.public_id,
            "tier": self.tier,
            "status": self.state.value,
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
            "decided_at": self.decided_at and self.decided_at.isoformat(),
        }


def _request(row: dict[str, Any]) -> KycRequest:
    return KycRequest(**{**row, "state": KycState(row["state"])})


@dataclass(frozen=True, slots=True)
class Verdict:
    approved: bool
    reason: str | None = None


class IdentityCheck(Protocol):
    name: str

    async def check(self, user: User, tier: int) -> Verdict | None:
        """The verdict on `user` for `tier`, or None to leave it to an operator. Raising
        (or taking too long) means: ask again later."""
        ...


class SimulatedIdentityCheck:
    """A stand-in provider: approves tier 1, refuses `refused_phones`, leaves tiers 2 and
    3 (documents, a bank card in the user's name) to an operator; `latency` seconds a
    check, as a real one takes."""

    name = "simulated-identity-check"

    def __init__(
        self, *, latency: float = 0.0, refused_phones: frozenset[str] = frozenset()
    ) -> None:
        self.latency = latency
        self.refused_phones = refused_phones

    async def check(self, user: User, tier: int) -> Verdict | None:
        await asyncio.sleep(self.latency)
        if user.phone in self.refused_phones:
            return Verdict(approved=False, reason="the identity check could not verify you")
        return Verdict(approved=True) if tier <= 1 else None


class KycService:
    def __init__(
        self, db: Database, clock: Clock, users: UserService, check: IdentityCheck
    ) -> None:
        self.db = db
        self.clock = clock
        self.users = users
        self.identity_check = check

    async def request(
        self, user_id: int, tier: int, *, idempotency_key: str | None = None
    ) -> KycRequest:
        """File a request for a higher tier; the same key again returns the same request."""
        check_tier(tier)
        scope = idempotency.kyc_scope(user_id)

        async def work(conn: Conn) -> int:
            earlier = await idempotency.replayed(conn, scope, idempotency_key, {"tier": tier})
            if earlier is not None:
                return int(earlier["request_id"])
            user = await self.users.get(user_id, conn)
            if tier <= user.kyc_tier:
                raise KycTierNotHigher(
                    f"you are at tier {user.kyc_tier} already", kyc_tier=user.kyc_tier
                )
            request_id = await self._insert(conn, user_id, tier)
            await idempotency.remember(conn, scope, idempotency_key, {"request_id": request_id})
            return request_id

        return await self._by_id(await self.db.transaction(work))

    async def _insert(self, conn: Conn, user_id: int, tier: int) -> int:
        now = self.clock.now()
        cur = await conn.execute(
            """
            insert into kyc_request (public_id, user_id, tier, state, next_check_at, created_at)
            values (%s, %s, %s, 'pending', %s, %s)
            on conflict (user_id) where state = 'pending' do nothing returning id
            """,
            ("kyc_" + secrets.token_hex(10), user_id, tier, now, now),
        )
        row = await cur.fetchone()
        if row is None:
            raise KycRequestPending("a KYC request of yours is already pending")
        return int(row["id"])

    async def latest(self, user_id: int) -> KycRequest | None:
        """The user's most recent request, pending or decided."""
        row = await self.db.fetch_one(
            f"select {_COLUMNS} from kyc_request where user_id = %s order by id desc limit 1",
            (user_id,),
        )
        return _request(row) if row else None

    async def get(self, public_id: str) -> KycRequest:
        row = await self.db.fetch_one(
            f"select {_COLUMNS} from kyc_request where public_id = %s", (public_id,)
        )
        if row is None:
            raise NotFound(f"no KYC request {public_id}")
        return _request(row)

    async def _by_id(self, request_id: int) -> KycRequest:
        row = await self.db.fetch_one(
            f"select {_COLUMNS} from kyc_request where id = %s", (request_id,)
        )
        assert row is not None
        return _request(row)

    async def pending(self, limit: int = 100) -> list[KycRequest]:
        """The operator's queue, oldest first."""
        rows = await self.db.fetch_all(
            f"select {_COLUMNS} from kyc_request where state = 'pending' order by id limit %s",
            (limit,),
        )
        return [_request(row) for row in rows]

    # Decisions.

    async def approve(self, public_id: str, *, by: str) -> KycRequest:
        """Approve the request and move its user to the tier, in one transaction."""
        return await self._decide(public_id, KycEvent.APPROVE, by=by, reason=None)

    async def reject(self, public_id: str, *, by: str, reason: str) -> KycRequest:
        if not reason.strip():
            raise InvalidRequest("say why the request is rejected")
        return await self._decide(public_id, KycEvent.REJECT, by=by, reason=reason.strip())

    async def _decide(
        self, public_id: str, event: KycEvent, *, by: str, reason: str | None
    ) -> KycRequest:
        async def work(conn: Conn) -> int:
            cur = await conn.execute(
                f"select {_COLUMNS} from kyc_request where public_id = %s for update",
                (public_id,),
            )
            row = await cur.fetchone()
            if row is None:
                raise NotFound(f"no KYC request {public_id}")
            request = _request(row)
            state = transition(KYC_TRANSITIONS, request.state, event, f"KYC request {public_id}")
            await conn.execute(
                """
                update kyc_request set state = %s, reason = %s, decided_by = %s,
                    decided_at = %s, next_check_at = null
                where id = %s
                """,
                (state.value, reason, by, self.clock.now(), request.id),
            )
            if state is KycState.APPROVED:
                await set_tier_in(conn, request.user_id, request.tier)
            return request.id

        return await self._by_id(await self.db.transaction(work))

    # The identity check's job.

    def jobs(self) -> list[Job]:
        return [("kyc-checks", 5.0, self.run_checks)]

    async def run_checks(self, limit: int = 20) -> int:
        """Ask the identity check about the requests due a check; how many it was asked."""
        now = self.clock.now()
        rows = await self.db.transaction(
            lambda conn: claim_due(conn, _POLLING, "public_id, user_id, tier", now, limit)
        )
        for row in rows:
            await self._check_one(row["public_id"], row["user_id"], row["tier"])
        return len(rows)

    async def _check_one(self, public_id: str, user_id: int, tier: int) -> None:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                verdict = await self.identity_check.check(await self.users.get(user_id), tier)
        except Exception as error:  # asked again after the polling's back-off
            log.warning("identity check failed", request=public_id, error=repr(error))
            return
        if verdict is None:  # an operator's to decide: no more checks
            async with self.db.connection() as conn:
                await conn.execute(
                    "update kyc_request set next_check_at = null where public_id = %s",
                    (public_id,),
                )
            return
        by = self.identity_check.name
        with contextlib.suppress(InvalidStateTransition):  # an operator decided meanwhile
            if verdict.approved:
                await self.approve(public_id, by=by)
            else:
                await self.reject(public_id, by=by, reason=verdict.reason or "not verified")
