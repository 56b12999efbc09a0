"""Run an SDK driver's job: one sequence of calls, or several clients in threads at once.

Imported by the SDK drivers (fzlee_driver.py, official_driver.py), which run under the
SDKs' own interpreters: standard library only.

    {"calls": [call, ...]}             -> [result, ...]
    {"clients": [[call, ...], ...]}    -> [[result, ...], ...]

Each list in `clients` runs in a thread of its own with its own SDK client; the threads
start their first calls together, so the server sees them concurrently.
"""

import threading
from collections.abc import Callable
from typing import Any

Call = dict[str, Any]
Result = dict[str, Any]


def run_job(job: dict[str, Any], make_client: Callable[[], Any],
            run_call: Callable[[Any, Call], Result]) -> list[Any]:  # fmt: skip
    if "calls" in job:
        client = make_client()
        return [run_call(client, call) for call in job["calls"]]
    clients: list[list[Call]] = job["clients"]
    results: list[list[Result]] = [[] for _ in clients]
    start = threading.Barrier(len(clients))

    def run(index: int) -> None:
        client = make_client()
        start.wait()
        results[index] = [run_call(client, call) for call in clients[index]]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
