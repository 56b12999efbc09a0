"""The background worker: runs each registered job on its interval until stopped.

Jobs are idempotent database work (expire holds, settle bank results), safe to run in
several processes at once: they claim rows with FOR UPDATE SKIP LOCKED.
"""

from __future__ import annotations

import asyncio
import contextlib

from zhifu.logging import get_logger
from zhifu.runtime import Job, Runtime

log = get_logger("zhifu.worker")


async def run_job(job: Job, stop: asyncio.Event) -> None:
    name, interval, work = job
    while not stop.is_set():
        try:
            done = await work()
            if done:
                log.info("job ran", job=name, count=done)
        except Exception as error:  # a failing job must not stop the others
            log.error("job failed", job=name, error=type(error).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


async def run_worker(runtime: Runtime, stop: asyncio.Event) -> None:
    await asyncio.gather(*(run_job(job, stop) for job in runtime.jobs))
