"""``make chaos``: the fault suite. Prints the seed first and one summary line last; exit 0 only if exact.

    python -m tokenmeter.chaos [--quick] [--seed N] [--events N] [--rate R]

``SEED`` in the environment is the same as ``--seed``; without either a seed
is drawn and printed, so any run can be repeated.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
from dataclasses import replace
from pathlib import Path

from tokenmeter.chaos.driver import ChaosConfig, run_chaos
from tokenmeter.chaos.plan import ChaosSpec
from tokenmeter.settings import DEFAULT_VAR

FULL = ChaosConfig(spec=ChaosSpec(events=50_000, span_seconds=125.0), rate=400.0, kills=6, flush_kills=1,
                   broker_restarts=1, outage_seconds=12.0, rebalances=1, held_back_after_seconds=200.0)
# About two minutes: what `make test` runs so CI guards the same code paths.
QUICK = ChaosConfig(spec=ChaosSpec(events=4_000, span_seconds=57.0), rate=70.0, kills=2, flush_kills=1,
                    broker_restarts=1, outage_seconds=10.0, rebalances=1, held_back_after_seconds=75.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tokenmeter.chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the short suite (as in make test)")
    parser.add_argument("--seed", type=int, default=int(os.environ["SEED"]) if os.environ.get("SEED") else None)
    parser.add_argument("--events", type=int, default=None, help="unique events (default 50,000; quick 4,000)")
    parser.add_argument("--rate", type=float, default=None, help="offered events/s in the main phase")
    parser.add_argument("--folder", type=Path, default=DEFAULT_VAR / "chaos",
                        help="logs, broker data and ClickHouse files of the run (wiped first)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    seed = args.seed if args.seed is not None else random.randrange(1, 1_000_000)
    config = QUICK if args.quick else FULL
    rate = args.rate or config.rate
    events = args.events or config.spec.events
    # Event times advance with the send rate, so "late" keeps its meaning at any size.
    spec = replace(config.spec, seed=seed, events=events, span_seconds=events / rate)
    config = replace(config, spec=spec, rate=rate)
    print(f"chaos: seed={seed} (repeat with SEED={seed}) events={spec.events} rate={config.rate}/s "
          f"folder={args.folder}", flush=True)
    outcome = run_chaos(config, args.folder)
    print(json.dumps(outcome.details, indent=2, default=str))
    print(f"chaos: money_exact={outcome.money_ok} reconcile_zero_drift={outcome.reconcile_ok} "
          f"dlq_exact={outcome.dlq_ok} seed={seed}")
    print(outcome.summary(), flush=True)
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
