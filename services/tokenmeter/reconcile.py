"""Reconciliation: do the stored window totals equal a recomputation from the stored events?

``usage_events`` is the ledger (one row per distinct (tenant, id), written from
the same fold decisions as the windows); ``usage_windows`` holds the rated
snapshots people query. :func:`compare` is pure: it matches both by window key
and reports every difference in events, requests, any token class, or money
(the stored cost against the list price of the recomputed quantities).

Repair re-emits a corrected cumulative snapshot to the windows topic with a
version above both the stored one and every folded position, so the sink's
ReplacingMergeTree keeps it. It corrects what ClickHouse holds; if the meter's
own state for a still-open window were wrong, its next snapshot would win
again (that would be a meter bug, which reconciliation then keeps reporting).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tokenmeter.events.models import TOKEN_CLASSES
from tokenmeter.pricing.book import PriceBook
from tokenmeter.pricing.models import ModelPrice
from tokenmeter.pricing.rating import rate
from tokenmeter.stream.state import WindowKey, WindowValue

_N = len(TOKEN_CLASSES)


@dataclass(frozen=True, slots=True)
class Totals:
    events: int
    requests: int
    tokens: tuple[int, ...]
    version: int
    cost_total: Decimal | None = None  # stored rows only


@dataclass(frozen=True, slots=True)
class Drift:
    key: WindowKey
    expected: Totals | None  # recomputed from usage_events; None: a window row with no events
    stored: Totals | None    # usage_windows; None: events with no window row
    expected_cost: Decimal

    @property
    def token_drift(self) -> int:
        a = self.expected.tokens if self.expected else (0,) * _N
        b = self.stored.tokens if self.stored else (0,) * _N
        return sum(abs(x - y) for x, y in zip(a, b, strict=True))

    def describe(self) -> str:
        k = self.key
        exp, got = self.expected, self.stored
        parts = [f"tenant={k.tenant} window_start_ms={k.start_ms} provider={k.provider} model={k.model} "
                 f"service_tier={k.service_tier} price_band={k.band}"]
        parts.append(f"events stored={got.events if got else 'missing'} expected={exp.events if exp else 0}")
        for i, name in enumerate(TOKEN_CLASSES):
            s, e = (got.tokens[i] if got else 0), (exp.tokens[i] if exp else 0)
            if s != e:
                parts.append(f"{name} stored={s} expected={e}")
        stored_cost = got.cost_total if got else None
        if stored_cost != self.expected_cost:
            parts.append(f"cost_total stored={stored_cost} expected={self.expected_cost}")
        return "drift " + " ".join(parts)


def _key(row: Sequence[Any]) -> WindowKey:
    return WindowKey(row[0], int(row[1]), row[2], row[3], row[4], int(row[5]))


def recomputed_from_rows(rows: Iterable[Sequence[Any]]) -> dict[WindowKey, Totals]:
    """Rows of ``queries.recomputed_windows``."""
    return {_key(r): Totals(int(r[6]), int(r[7]), tuple(int(n) for n in r[8:8 + _N]), int(r[8 + _N]))
            for r in rows}


def stored_from_rows(rows: Iterable[Sequence[Any]]) -> dict[WindowKey, Totals]:
    """Rows of ``queries.stored_windows``."""
    return {_key(r): Totals(int(r[6]), int(r[7]), tuple(int(n) for n in r[8:8 + _N]), int(r[8 + _N]),
                            Decimal(r[9 + _N])) for r in rows}


def compare(recomputed: dict[WindowKey, Totals], stored: dict[WindowKey, Totals], prices: PriceBook) -> list[Drift]:
    """Every window whose stored row differs from the recomputation, in key order."""
    drifts = []
    for key in sorted(recomputed.keys() | stored.keys()):
        exp, got = recomputed.get(key), stored.get(key)
        expected_cost = (rate(exp.tokens, exp.requests, _price(prices, key)).total if exp else Decimal(0))
        same = (exp is not None and got is not None and (exp.events, exp.requests, exp.tokens)
                == (got.events, got.requests, got.tokens) and got.cost_total == expected_cost)
        if not same:
            drifts.append(Drift(key, exp, got, expected_cost))
    return drifts


def _price(prices: PriceBook, key: WindowKey) -> ModelPrice | None:
    """The price the meter used for this window: in force at its start, for its service tier."""
    return prices.lookup(key.provider, key.model, key.start_ms, service_tier=key.service_tier, band=key.band,
                         tenant=key.tenant)


def corrected_value(drift: Drift) -> WindowValue:
    """The cumulative value a repair snapshot carries, versioned above everything stored."""
    exp, got = drift.expected, drift.stored
    version = max(exp.version if exp else 0, got.version if got else 0) + 1
    if exp is None:  # a window row with no events behind it: zero it
        return WindowValue(version, 0, (0,) * _N, 0)
    return WindowValue(version, exp.requests, exp.tokens, exp.events)


@dataclass(frozen=True, slots=True)
class Report:
    windows: int
    drifts: list[Drift]

    @property
    def token_drift(self) -> int:
        return sum(d.token_drift for d in self.drifts)


def run(db: Any, prices: PriceBook, from_ms: int, to_ms: int, tenant: str | None = None) -> Report:
    """Read both sides from ClickHouse (``db`` is a storage.clickhouse.ClickHouse) and compare."""
    from tokenmeter.storage.queries import recomputed_windows, stored_windows

    recomputed = recomputed_from_rows(db.query(*recomputed_windows(from_ms, to_ms, tenant)))
    stored = stored_from_rows(db.query(*stored_windows(from_ms, to_ms, tenant)))
    return Report(len(recomputed.keys() | stored.keys()), compare(recomputed, stored, prices))


async def emit_repairs(kafka: Any, topic: str, drifts: Sequence[Drift], prices: PriceBook, *,
                       window_ms: int, now_ms: int) -> int:
    """Publish a corrected snapshot for every drift (``kafka`` is KafkaSettings). Returns how many."""
    from aiokafka import AIOKafkaProducer

    from tokenmeter.stream.messages import snapshot_message

    producer = AIOKafkaProducer(acks="all", enable_idempotence=True, **kafka.client_options())
    await producer.start()
    try:
        for d in drifts:
            value = corrected_value(d)
            rated = rate(value.tokens, value.requests, _price(prices, d.key))
            await producer.send_and_wait(topic, key=d.key.encode(),
                                         value=snapshot_message(d.key, value, rated, window_ms, now_ms))
    finally:
        await producer.stop()
    return len(drifts)
