from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from itertools import pairwise

from tokenmeter.events.decode import decode_message
from tokenmeter.events.errors import Rejection
from tokenmeter.events.models import UsageEvent
from tokenmeter.ingest.loadgen import LoadSpec, plan

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
SPEC = LoadSpec(total=3000, tenants=4, duplicate_ratio=0.1, invalid_ratio=0.05, seed=3)


def test_plan_is_deterministic_per_seed() -> None:
    a, _ = plan(SPEC, now=NOW)
    b, _ = plan(SPEC, now=NOW)
    assert [r.value for r in a] == [r.value for r in b]


def test_expectation_matches_what_the_decoder_makes_of_the_records() -> None:
    records, expected = plan(SPEC, now=NOW)
    kinds = Counter(r.kind for r in records)
    assert kinds["valid"] == expected.unique == 3000
    assert kinds["duplicate"] == expected.duplicates
    assert kinds["invalid"] == len(expected.invalid)
    seen: set[tuple[str, str]] = set()
    tokens = 0
    for r in records:
        [(_, item)] = decode_message(r.value, r.key)
        if r.kind == "invalid":
            assert isinstance(item, Rejection)
            assert item.reason == expected.invalid[r.event_id]
            continue
        assert isinstance(item, UsageEvent)
        if (item.subject, item.id) not in seen:
            seen.add((item.subject, item.id))
            tokens += sum(item.token_counts())
    assert len(seen) == expected.unique
    assert tokens == expected.total_tokens()


def test_out_of_order_events_exist() -> None:
    records, _ = plan(LoadSpec(total=2000, out_of_order_ratio=0.05, seed=9), now=NOW)
    times = [e.time_ms for r in records if r.kind == "valid"
             for _, e in decode_message(r.value, r.key) if isinstance(e, UsageEvent)]
    backwards = sum(1 for a, b in pairwise(times) if b < a)
    assert 50 < backwards < 150
