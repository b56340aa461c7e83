"""Idempotent folding of events into window values: the heart of exactly-once effect. Pure.

Positions. Every event gets a position that grows strictly along its Kafka
partition: ``offset * POSITION_STRIDE + index`` (index inside a batch message).
A tenant's events share a partition (key = tenant), so positions of one tenant
are totally ordered.

Two tables, both changelogged by Faust:

- ``seen``: (tenant, id) -> position of the FIRST message that carried the id.
  Another position with the same key is a true duplicate and is skipped. The
  same position again is a redelivery (after a crash or rebalance) of the
  first copy, which must be counted if its window update was lost.
- ``windows``: window key -> value whose ``watermark`` is the highest position
  folded into it. An event at a position <= watermark is already in the value
  and is skipped; the check and the update are one table write, so they can
  never disagree. Physically, all window values of one (tenant, window start)
  share one table key (``group_key``, ``encode_group``), each with its own
  watermark: a run of records writes a tenant's window once, however many
  models and tiers it touched (one changelog record instead of one per model).

Both values also carry their source partition and an expiry basis, so state
can be expired per partition (stream.expiry) after a restart too.

Crash at any point leaves one of: neither write, only ``seen`` (the redelivery
finds its own position there and folds), only the window (the redelivery finds
watermark >= position and skips), or both. Every case counts the event once.

Durability. A table write reaches the local store at once and the changelog a
little later. With a persistent local store (RocksDB), a SIGKILL in between
leaves the local store *ahead* of the changelog; if the same worker gets the
partition back, the redelivered record is rightly judged already folded, but
the changelog still lacks its effect, and the next worker to recover from the
changelog would lose it (the chaos suite found exactly this). So a redelivered
record writes its keys again with their current values: replaying the
uncommitted tail always makes the changelog catch up with the local store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import add as plus
from typing import Final, NamedTuple

import orjson

from tokenmeter.events.models import TOKEN_CLASSES, UsageEvent
from tokenmeter.stream.windows import window_start

POSITION_STRIDE: Final = 1 << 20  # > any batch size; offsets < 2**43 keep positions in int64
_N = len(TOKEN_CLASSES)


def position(offset: int, index: int) -> int:
    return offset * POSITION_STRIDE + index


class SeenEntry(NamedTuple):
    """The first copy of an id: where it was, and from when its dedupe horizon counts."""

    position: int
    basis_ms: int  # max(event time, record time of the first copy)
    partition: int

    def encode(self) -> bytes:
        return b"%d:%d:%d" % self

    @classmethod
    def decode(cls, raw: bytes) -> SeenEntry:
        parts = raw.split(b":")
        if len(parts) == 1:  # written before expiry existed: partition unknown, so never swept
            return cls(int(parts[0]), 0, -1)
        pos, basis, partition = parts
        return cls(int(pos), int(basis), int(partition))


class WindowKey(NamedTuple):
    tenant: str
    start_ms: int
    provider: str
    model: str
    service_tier: str
    band: int = 0  # context-cliff price band (pricing.book): requests above a cliff are windowed apart

    def encode(self) -> bytes:
        return orjson.dumps(tuple(self))  # orjson does not serialise tuple subclasses

    @classmethod
    def decode(cls, raw: bytes) -> WindowKey:
        return cls(*orjson.loads(raw))  # five fields: written before bands existed, band 0


class Added(NamedTuple):
    """What a run of events added to one window: token sums per class, requests, events."""

    tokens: tuple[int, ...]
    requests: int
    events: int

    @classmethod
    def of(cls, events: list[UsageEvent]) -> Added:
        """One pass per token class over all the events, not one new tuple per event."""
        tokens = tuple(map(sum, zip(*(e.token_counts() for e in events), strict=True)))
        return cls(tokens, sum(e.data.requests for e in events), len(events))


class WindowValue(NamedTuple):
    """Cumulative quantities of one window key, and the highest position folded in.

    A NamedTuple rather than a dataclass: the fold makes one per window and run, and a tuple is
    the cheapest immutable value Python builds."""

    watermark: int
    requests: int
    tokens: tuple[int, ...]
    events: int
    partition: int = -1  # source partition of the tenant; -1: unknown (never expired)

    @classmethod
    def empty(cls, partition: int = -1) -> WindowValue:
        return cls(-1, 0, (0,) * _N, 0, partition)

    def with_added(self, added: Added, pos: int) -> WindowValue:
        """This value with ``added`` folded in; ``pos``: the position of the last event added."""
        tokens = tuple(map(plus, self.tokens, added.tokens))
        return WindowValue(pos, self.requests + added.requests, tokens, self.events + added.events, self.partition)

    def encode(self) -> bytes:
        return orjson.dumps([self.watermark, self.requests, self.events, self.partition, *self.tokens])

    @classmethod
    def decode(cls, raw: bytes) -> WindowValue:
        values = orjson.loads(raw)
        if len(values) == 3 + _N:  # written before values carried their partition
            watermark, requests, events, *tokens = values
            return cls(watermark, requests, tuple(tokens), events)
        watermark, requests, events, partition, *tokens = values
        return cls(watermark, requests, tuple(tokens), events, partition)


def kept(raw: bytes) -> bytes:
    """A right-sized copy of orjson output that state keeps (table keys and values, the id index).

    orjson (3.12 and later) hands back its working buffer without shrinking it: a 21-byte key
    held 4,121 bytes of RSS (measured over 200,000 kept keys; about 70 after a copy). The meter keeps
    one per remembered id and per tenant window, so untrimmed that was most of its memory.
    ``b"".join`` of two parts always copies, into an exact-size object."""
    return b"".join((raw, b""))


def group_key(tenant: str, start_ms: int) -> bytes:
    """The ``windows``-table key holding every window value of one tenant and window start."""
    return kept(orjson.dumps([tenant, start_ms]))


def encode_group(values: dict[WindowKey, WindowValue], partition: int) -> bytes:
    """One table value for a group: ``[partition, [[provider, model, tier, band, watermark,
    requests, events, *tokens], ...]]``. Every entry keeps its own watermark."""
    return kept(orjson.dumps([partition, [[k.provider, k.model, k.service_tier, k.band, v.watermark, v.requests,
                                           v.events, *v.tokens] for k, v in values.items()]]))


def window_values(raw_key: bytes, raw_value: bytes) -> tuple[int, dict[WindowKey, WindowValue]]:
    """(source partition, window values) of a stored ``windows`` entry, in either layout: a
    group key (``[tenant, start]``) or the older one key per window (``WindowKey.encode``)."""
    parts = orjson.loads(raw_key)
    if len(parts) != 2:
        value = WindowValue.decode(raw_value)
        return value.partition, {WindowKey(*parts): value}
    tenant, start_ms = parts
    partition, entries = orjson.loads(raw_value)
    return partition, {
        WindowKey(tenant, start_ms, provider, model, tier, band): WindowValue(wm, req, tuple(tokens), n, partition)
        for provider, model, tier, band, wm, req, n, *tokens in entries
    }


def dedupe_key(tenant: str, event_id: str) -> bytes:
    return orjson.dumps([tenant, event_id])


def window_key(event: UsageEvent, window_ms: int, band: int = 0) -> WindowKey:
    d = event.data
    return WindowKey(event.subject, window_start(event.time_ms, window_ms), d.provider, d.model, d.service_tier, band)


@dataclass(slots=True)
class Pending:
    """Events folded into one window and not yet summed, in position order."""

    events: list[UsageEvent]
    last_pos: int


@dataclass(slots=True)
class FoldResult:
    """What one message changed. The caller writes ``windows`` and ``seen`` once per key.

    ``windows`` holds every window a counted or redelivered event fell in (a redelivery's value
    unchanged): all of them are written and re-published."""

    # window -> its value before this result's additions (read from the table or an earlier call)
    base: dict[WindowKey, WindowValue] = field(default_factory=dict)
    # window -> the events folded into it here, not yet summed into base
    adds: dict[WindowKey, Pending] = field(default_factory=dict)
    seen: dict[bytes, SeenEntry] = field(default_factory=dict)
    # (position, event, its window) to forward to usage_events
    accepted: list[tuple[int, UsageEvent, WindowKey]] = field(default_factory=list)
    counted: list[UsageEvent] = field(default_factory=list)  # newly folded by this call
    duplicates: list[UsageEvent] = field(default_factory=list)
    # (tenant, window start) -> (group key, its stored values): what the fold read, for the write
    groups: dict[tuple[str, int], tuple[bytes, dict[WindowKey, WindowValue]]] = field(default_factory=dict)
    absorbed: list[bytes] = field(default_factory=list)  # older-layout keys now held by their group
    redelivered: int = 0  # events already folded before a crash or rebalance
    late: int = 0  # counted events whose window had ended when their record was written

    # window -> what this result's counted events added to it (filled by _settle)
    added_by: dict[WindowKey, Added] = field(default_factory=dict)

    @property
    def windows(self) -> dict[WindowKey, WindowValue]:
        """Every touched window's value with this result's events added."""
        self._settle()
        return self.base

    @property
    def added(self) -> dict[WindowKey, Added]:
        """What the counted events added, per window (for the business metrics)."""
        self._settle()
        return self.added_by

    def _settle(self) -> None:
        # Summed once per window and result: a new tuple per event was 7 % of the worker's time in
        # the benchmark profile. A later fold into this result adds to the settled values.
        for wkey, pending in self.adds.items():
            more = Added.of(pending.events)
            before = self.added_by.get(wkey)
            self.added_by[wkey] = more if before is None else Added(
                tuple(map(plus, before.tokens, more.tokens)), before.requests + more.requests,
                before.events + more.events)
            self.base[wkey] = self.base[wkey].with_added(more, pending.last_pos)
        self.adds.clear()


def fold(
    events: Iterable[tuple[int, UsageEvent]],
    *,
    seen: Callable[[bytes], int | None],
    current: Callable[[WindowKey], WindowValue | None],
    window_ms: int,
    partition: int = -1,
    record_ms: int = 0,
    band: Callable[[UsageEvent], int] = lambda event: 0,
    into: FoldResult | None = None,
) -> FoldResult:
    """Fold positioned events (in position order) of one record into window values.

    ``seen`` and ``current`` read the stored tables; the result holds only the
    new values, so a caller writes each touched key once however many of its
    events landed there. ``partition`` and ``record_ms`` describe the Kafka
    record, for expiry. ``band`` gives an event's context-cliff price band
    (deterministic per event, so a replay windows it the same way). ``into``
    accumulates several records of one partition (in offset order) into one
    result, so a run of records is written once: the values pending in it are
    read before the tables.
    """
    out = into if into is not None else FoldResult()
    for pos, event in events:
        dkey = dedupe_key(event.subject, event.id)
        entry = out.seen.get(dkey)
        first = entry.position if entry is not None else seen(dkey)
        if first is not None and first != pos:
            out.duplicates.append(event)
            continue
        # Written again on a redelivery too (same bytes): see "Durability" above.
        out.seen[dkey] = SeenEntry(pos, max(event.time_ms, record_ms), partition)
        wkey = window_key(event, window_ms, band(event))
        value = out.base.get(wkey)
        if value is None:
            # A redelivery's value is kept unchanged and rewritten: see "Durability" above.
            value = out.base[wkey] = current(wkey) or WindowValue.empty(partition)
        out.accepted.append((pos, event, wkey))
        pending = out.adds.get(wkey)
        if value.watermark >= pos or (pending is not None and pending.last_pos >= pos):
            out.redelivered += 1
            continue
        if pending is None:
            out.adds[wkey] = Pending([event], pos)
        else:
            pending.events.append(event)
            pending.last_pos = pos
        out.counted.append(event)
        if record_ms > wkey.start_ms + window_ms:
            out.late += 1
    return out
