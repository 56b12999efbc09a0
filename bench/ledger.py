"""The ledger benchmark as a script: `python bench/ledger.py [--short] [--database-url URL]`.

The same as `zhifu bench ledger` (see zhifu.benchmarks.ledger); figures and the machine go
in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from zhifu.benchmarks.ledger import invocation, print_report, run_ledger_bench


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="a PostgreSQL server (default: embedded)")
    parser.add_argument("--data-dir", type=Path, help="the embedded server's data directory")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--short", action="store_true")
    parser.add_argument("--transfers", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    command = invocation()
    print(f"command: {command}", file=sys.stderr)
    result = run_ledger_bench(
        args.database_url,
        args.data_dir,
        clients=args.clients,
        seconds=args.seconds,
        short=args.short,
        transfers=args.transfers,
        command=command,
        progress=lambda message: print(f"  {message}", file=sys.stderr, flush=True),
    )
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print_report(result)
    return 0 if result.get("verify", {}).get("ok") else 1


if __name__ == "__main__":  # the guard matters: the benchmark's worker processes import this
    sys.exit(main())
