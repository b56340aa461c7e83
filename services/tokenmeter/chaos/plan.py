"""What the chaos suite sends, and what the pipeline must make of it. Pure and seeded.

Events go out as Kafka records of one tenant each, mostly CloudEvents
batches of 1..``max_batch`` events (as the SDK and the HTTP door send them),
some single. Mixed in, in ratios of the unique events:

- duplicates: the same event JSON again, later, as its own record or inside
  another batch of the same tenant; a share of them is held back and resent
  after the main phase, minutes after the original;
- out of order: event time one to three windows before its neighbours;
- late: events for windows that were emitted long before (early in the run)
  or days ago, still within the 7-day lateness horizon: they count;
- too late (8 days old) and future (an hour ahead): dead-lettered;
- invalid records (schema violations, bad JSON, wrong key): dead-lettered.

The expectation is computed here from the events themselves, independently
of the stream code (only the window floor is shared).
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from tokenmeter.events import errors as reasons
from tokenmeter.events.models import TOKEN_CLASSES, UsageEvent
from tokenmeter.ingest.loadgen import invalid_variant, make_event
from tokenmeter.ingest.producer import encode_batch, encode_event
from tokenmeter.pricing.catalog import builtin_price_book
from tokenmeter.pricing.rating import rate
from tokenmeter.stream.windows import window_start

_N = len(TOKEN_CLASSES)


@dataclass(frozen=True, slots=True)
class ChaosSpec:
    events: int = 50_000          # unique countable events
    tenants: int = 20
    seed: int = 1
    window_seconds: int = 10
    span_seconds: float = 120.0   # event times of the main phase spread over this long
    duplicate_ratio: float = 0.07
    held_back_share: float = 0.3  # of the duplicates, resent after the main phase
    out_of_order_ratio: float = 0.03
    late_ratio: float = 0.03
    too_late_ratio: float = 0.003
    future_ratio: float = 0.003
    invalid_ratio: float = 0.005
    max_batch: int = 8


@dataclass(frozen=True, slots=True)
class Record:
    key: bytes | None
    value: bytes
    events: int  # events the record carries (countable, duplicate or refused)


@dataclass(slots=True)
class Expected:
    """Per window (tenant, start ms, provider, model, tier): [events, requests, *tokens]."""

    windows: dict[tuple[str, int, str, str, str], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0] * (2 + _N)))
    ids: set[tuple[str, str]] = field(default_factory=set)
    dlq: dict[str, str] = field(default_factory=dict)  # event id -> reason

    def count(self, event: UsageEvent, window_ms: int) -> None:
        d = event.data
        row = self.windows[(event.subject, window_start(event.time_ms, window_ms), d.provider, d.model,
                            d.service_tier)]
        row[0] += 1
        row[1] += d.requests
        for i, n in enumerate(event.token_counts()):
            row[2 + i] += n
        self.ids.add((event.subject, event.id))

    @property
    def unique(self) -> int:
        return len(self.ids)

    def total_tokens(self) -> int:
        return sum(sum(row[2:]) for row in self.windows.values())

    def money(self) -> dict[tuple[str, str, str], Decimal]:
        """List-price money per (tenant, provider, model), rated from whole-run quantities."""
        book = builtin_price_book()
        sums: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0] * (1 + _N))
        prices = {}
        for (tenant, start_ms, provider, model, tier), row in self.windows.items():
            acc = sums[(tenant, provider, model)]
            for i, n in enumerate(row[1:]):
                acc[i] += n
            prices[(tenant, provider, model)] = book.lookup(provider, model, start_ms, service_tier=tier)
        # One price period covers a run (none of the built-in prices changes within 7 days of now).
        return {k: rate(tuple(v[1:]), v[0], prices[k]).total for k, v in sums.items()}


@dataclass(slots=True)
class ChaosPlan:
    main: list[Record]
    held_back: list[Record]  # duplicates resent after the main phase
    expected: Expected
    stats: dict[str, int]

    @property
    def events_sent(self) -> int:
        return sum(r.events for r in self.main) + sum(r.events for r in self.held_back)


def build(spec: ChaosSpec, *, start: datetime) -> ChaosPlan:
    """Records for a run whose main phase starts at ``start`` (event times are relative to it)."""
    rng = random.Random(spec.seed)
    window_ms = spec.window_seconds * 1000
    tenants = [f"chaos-{i:03d}" for i in range(spec.tenants)]
    expected = Expected()
    stats: dict[str, int] = defaultdict(int)
    sent_by_tenant: dict[str, list[UsageEvent]] = defaultdict(list)
    main: list[Record] = []
    held_back: list[Record] = []
    n = 0
    while n < spec.events:
        tenant = rng.choice(tenants)
        batch: list[UsageEvent] = []
        for _ in range(rng.randint(1, spec.max_batch)):
            if n >= spec.events:
                break
            progress = n / spec.events
            when = start + timedelta(seconds=progress * spec.span_seconds)
            kind = "on_time"
            r = rng.random()
            if r < spec.late_ratio and progress > 0.5:
                kind = "late"
                if rng.random() < 0.5:  # a window emitted long ago in this run
                    when = start + timedelta(seconds=rng.uniform(0, 0.1 * spec.span_seconds))
                else:                   # days ago, inside the 7-day horizon
                    when = start - timedelta(hours=rng.uniform(1, 6 * 24))
            elif r < spec.late_ratio + spec.out_of_order_ratio:
                kind = "out_of_order"
                when -= timedelta(seconds=rng.uniform(1, 3) * spec.window_seconds)
            event = make_event(rng, event_id=f"c{spec.seed}-{n:07d}", tenant=tenant, when=when, source="chaos")
            n += 1
            stats[kind] += 1
            expected.count(event, window_ms)
            batch.append(event)
            if rng.random() < spec.too_late_ratio:
                batch.append(_refused(rng, tenant, start - timedelta(days=8), spec, expected, reasons.TOO_LATE))
                stats["too_late"] += 1
            if rng.random() < spec.future_ratio:
                batch.append(_refused(rng, tenant, start + timedelta(seconds=spec.span_seconds + 3600), spec,
                                      expected, reasons.FUTURE_TIMESTAMP))
                stats["future"] += 1
        earlier = sent_by_tenant[tenant]
        if earlier and rng.random() < spec.duplicate_ratio * 2:  # a resend rides along in a new batch
            batch.append(rng.choice(earlier[-200:]))
            stats["duplicate"] += 1
        main.append(Record(tenant.encode(), _encode(batch), len(batch)))
        earlier.extend(e for e in batch if (e.subject, e.id) in expected.ids)
        for _ in range(_poisson_ish(rng, spec.duplicate_ratio * len(batch) / 2)):
            original = rng.choice(earlier)
            stats["duplicate"] += 1
            if rng.random() < spec.held_back_share and n < spec.events * 0.3:
                held_back.append(Record(tenant.encode(), encode_event(original), 1))
                stats["duplicate_held_back"] += 1
            else:
                main.append(Record(tenant.encode(), encode_event(original), 1))
        if rng.random() < spec.invalid_ratio * len(batch):
            bad = make_event(rng, event_id=f"c{spec.seed}-bad-{n:07d}", tenant=tenant, when=start, source="chaos")
            key, value, reason = invalid_variant(rng, bad)
            main.append(Record(key, value, 1))
            expected.dlq[bad.id] = reason
            stats["invalid"] += 1
    return ChaosPlan(main, held_back, expected, dict(stats))


def _refused(rng: random.Random, tenant: str, when: datetime, spec: ChaosSpec, expected: Expected,
             reason: str) -> UsageEvent:
    event = make_event(rng, event_id=f"c{spec.seed}-{reason}-{len(expected.dlq):07d}", tenant=tenant, when=when,
                       source="chaos")
    expected.dlq[event.id] = reason
    return event


def _poisson_ish(rng: random.Random, mean: float) -> int:
    """0, 1 or more with the given mean (whole part always, fraction by chance)."""
    whole = int(mean)
    return whole + (1 if rng.random() < mean - whole else 0)


def _encode(batch: list[UsageEvent]) -> bytes:
    return encode_event(batch[0]) if len(batch) == 1 else encode_batch(batch)
