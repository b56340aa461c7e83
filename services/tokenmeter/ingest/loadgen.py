"""Synthetic gateway traffic: a seeded, pure plan of records, and a paced sender.

The plan knows what it contains, so it also yields the expected outcome:
totals of the unique valid events and the DLQ reason of every invalid one.
Tests and benchmarks compare what the pipeline stored with that expectation.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson

from tokenmeter.events import errors as reasons
from tokenmeter.events.models import TOKEN_CLASSES, UsageData, UsageEvent
from tokenmeter.ingest.producer import UsageEmitter, encode_event

# (provider, model) mix; the last one has no list price, so it is stored as unpriced.
MODELS: tuple[tuple[str, str], ...] = (
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("openai", "o3"),
    ("anthropic", "claude-sonnet-4"),
    ("anthropic", "claude-3-5-haiku"),
    ("google", "gemini-2.5-flash"),
    ("acme", "acme-llm-1"),
)


@dataclass(frozen=True, slots=True)
class LoadSpec:
    total: int = 1000            # unique events (duplicates and invalid ones come on top)
    tenants: int = 5
    duplicate_ratio: float = 0.05
    invalid_ratio: float = 0.01
    out_of_order_ratio: float = 0.02
    window_seconds: int = 60
    seed: int = 1
    tenant_prefix: str = "tenant-"
    source: str = "loadgen"


@dataclass(frozen=True, slots=True)
class Planned:
    key: bytes | None
    value: bytes
    kind: str  # "valid", "duplicate" or "invalid"
    event_id: str
    tenant: str
    reason: str | None = None  # expected DLQ reason of an invalid record


@dataclass(slots=True)
class Expected:
    """What the pipeline must store for a plan."""

    tokens: dict[tuple[str, str, str], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0] * len(TOKEN_CLASSES)))
    requests: dict[tuple[str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    invalid: dict[str, str] = field(default_factory=dict)  # event id -> reason
    unique: int = 0
    duplicates: int = 0

    def add(self, event: UsageEvent) -> None:
        k = (event.subject, event.data.provider, event.data.model)
        totals = self.tokens[k]
        for i, n in enumerate(event.token_counts()):
            totals[i] += n
        self.requests[k] += event.data.requests
        self.unique += 1

    def total_tokens(self) -> int:
        return sum(sum(v) for v in self.tokens.values())


def make_event(rng: random.Random, *, event_id: str, tenant: str, when: datetime, source: str) -> UsageEvent:
    provider, model = rng.choice(MODELS)
    prompt = rng.randint(20, 6000)
    cached = rng.randint(0, prompt // 2) if rng.random() < 0.4 else 0
    cache_write = rng.randint(0, 2000) if provider == "anthropic" and rng.random() < 0.2 else 0
    reasoning = rng.randint(0, 3000) if model == "o3" else 0
    audio = rng.randint(1, 500) if provider == "google" and rng.random() < 0.1 else 0
    data = UsageData(
        model=model, provider=provider, input_tokens=prompt - cached, cached_input_tokens=cached,
        cache_write_tokens=cache_write, output_tokens=rng.randint(1, 1500), reasoning_tokens=reasoning,
        audio_input_tokens=audio, api_key_id=f"key-{rng.randint(1, 3)}",
    )
    return UsageEvent(specversion="1.0", id=event_id, source=source, type="llm.usage", subject=tenant,
                      time=when, data=data)


def invalid_variant(rng: random.Random, event: UsageEvent) -> tuple[bytes | None, bytes, str]:
    """A broken variant of ``event``: (key, value, expected DLQ reason)."""
    doc = orjson.loads(encode_event(event))
    key = event.subject.encode()
    kind = rng.randrange(6)
    if kind == 0:
        doc["data"]["input_tokens"] = -5
    elif kind == 1:
        del doc["time"]
    elif kind == 2:
        doc["data"]["prompt_tokens"] = doc["data"].pop("input_tokens", 0)
    elif kind == 3:
        doc["time"] = "2026-01-01T00:00:00"  # no UTC offset
    elif kind == 4:
        return key, b'{"specversion": "1.0", "id": "' + event.id.encode() + b'", \xff', reasons.UNDECODABLE
    else:
        return b"someone-else", orjson.dumps(doc), reasons.KEY_MISMATCH
    return key, orjson.dumps(doc), reasons.SCHEMA_VIOLATION


def plan(spec: LoadSpec, *, now: datetime) -> tuple[list[Planned], Expected]:
    """Records to send, in order, and what the pipeline must make of them. Deterministic per seed."""
    rng = random.Random(spec.seed)
    expected = Expected()
    records: list[Planned] = []
    tenants = [f"{spec.tenant_prefix}{i:03d}" for i in range(spec.tenants)]
    delayed: list[tuple[int, Planned]] = []  # duplicates, resent a little later
    for n in range(spec.total):
        tenant = rng.choice(tenants)
        when = now + timedelta(milliseconds=n)
        if rng.random() < spec.out_of_order_ratio:
            when -= timedelta(seconds=rng.uniform(spec.window_seconds, 3 * spec.window_seconds))
        event = make_event(rng, event_id=f"{spec.seed}-{n:08d}", tenant=tenant, when=when, source=spec.source)
        record = Planned(tenant.encode(), encode_event(event), "valid", event.id, tenant)
        records.append(record)
        expected.add(event)
        if rng.random() < spec.duplicate_ratio:
            delayed.append((n + rng.randint(1, 200), Planned(record.key, record.value, "duplicate", event.id, tenant)))
            expected.duplicates += 1
        if rng.random() < spec.invalid_ratio:
            bad_id = f"{spec.seed}-bad-{n:08d}"
            key, value, reason = invalid_variant(rng, event.model_copy(update={"id": bad_id}))
            records.append(Planned(key, value, "invalid", bad_id, tenant, reason))
            expected.invalid[bad_id] = reason
        while delayed and delayed[0][0] <= n:
            records.append(delayed.pop(0)[1])
        delayed.sort(key=lambda d: d[0])
    records.extend(d for _, d in delayed)
    return records, expected


def coalesce(records: list[Planned], *, span: int, max_events: int = 100) -> list[Planned]:
    """Pack the valid and duplicate records of each run of ``span`` records into per-tenant batch
    records (a JSON array of events, keyed by tenant), as the API and ``emit_batch`` write them.

    ``span`` models how many events a gateway fleet sends within one batching interval; the
    tenants in it are spread over several records. Invalid records stay single (one bad
    record must not refuse its neighbours). Order of a tenant's events is kept.
    """
    out: list[Planned] = []
    for start in range(0, len(records), span):
        groups: dict[bytes | None, list[Planned]] = {}
        for record in records[start:start + span]:
            if record.kind == "invalid":
                out.append(record)
                continue
            group = groups.setdefault(record.key, [])
            group.append(record)
            if len(group) == max_events:
                out.append(_batch_of(groups.pop(record.key)))
        out.extend(_batch_of(group) for group in groups.values())
    return out


def _batch_of(group: list[Planned]) -> Planned:
    first = group[0]
    if len(group) == 1:
        return first
    return Planned(first.key, b"[" + b",".join(r.value for r in group) + b"]", "batch", first.event_id,
                   first.tenant)


def expected_costs(expected: Expected, at_ms: int) -> dict[tuple[str, str, str], Decimal]:
    """Total list-price money per (tenant, provider, model) at the prices in force at ``at_ms``,
    computed independently of the stream (a plan's events all fall in one price period)."""
    from tokenmeter.pricing.catalog import builtin_price_book
    from tokenmeter.pricing.rating import rate

    book = builtin_price_book()
    return {k: rate(tokens, expected.requests[k], book.lookup(k[1], k[2], at_ms)).total
            for k, tokens in expected.tokens.items()}


async def send(emitter: UsageEmitter, records: list[Planned], *, rate: float | None,
               progress: Callable[[int], None] | None = None) -> int:
    """Send ``records`` in order at ``rate`` records/s (None: as fast as Kafka takes them).

    Returns the number acknowledged; raises ``EmitError`` if any was not.
    """
    started = time.monotonic()
    chunk = 500 if rate is None else max(1, int(rate / 50))
    sent = 0
    for i in range(0, len(records), chunk):
        part = records[i:i + chunk]
        futures = [await emitter.send_raw(r.key, r.value) for r in part]
        await emitter.acknowledged(futures, [1] * len(futures))
        sent += len(part)
        if progress:
            progress(sent)
        if rate is not None:
            ahead = started + sent / rate - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
    return sent


def now_utc() -> datetime:
    return datetime.now(UTC)

