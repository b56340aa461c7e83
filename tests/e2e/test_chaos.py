"""The short chaos suite (``python -m tokenmeter.chaos --quick``) inside ``make test``.

Kills workers (one inside a sink flush), restarts the broker, takes ClickHouse
away for 10 s and rebalances two workers while ~4,300 events with duplicates,
late, out-of-order and refused ones flow; then demands exact totals, exact
money, zero reconciliation drift and an exact dead-letter queue. The seed is
random unless SEED is set, and printed on failure.
"""

from __future__ import annotations

import os
import random
from dataclasses import replace
from pathlib import Path

import pytest

from tokenmeter.chaos.__main__ import QUICK
from tokenmeter.chaos.driver import run_chaos


@pytest.mark.e2e
@pytest.mark.kafka
def test_quick_chaos_suite_is_exact(tmp_path: Path) -> None:
    seed = int(os.environ.get("SEED") or random.randrange(1, 1_000_000))
    config = replace(QUICK, spec=replace(QUICK.spec, seed=seed))
    outcome = run_chaos(config, tmp_path / "chaos")
    print(outcome.summary())
    context = f"seed={seed} (repeat: make chaos-quick SEED={seed}) {outcome.summary()} {outcome.details}"
    assert (outcome.lost, outcome.double) == (0, 0), context
    assert outcome.stored_tokens == outcome.expected_tokens, context
    assert outcome.money_ok and outcome.reconcile_ok and outcome.dlq_ok, context
    assert outcome.kills >= 4 and outcome.broker_restarts == 1 and outcome.sink_outages == 1, context
    assert outcome.details["unexpected_deaths"] == {"A": 0, "B": 0}, context
