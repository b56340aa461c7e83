"""The meter's per-record logic over two byte mappings: time policy, fold, table writes, expiry.

The Faust agent (stream.app) drives it with Faust tables; tests drive it with
plain dicts and simulate crashes between its steps. Each record goes through:

1. :meth:`MeterCore.judge` — refuse events outside the lateness horizon or skew;
2. :meth:`MeterCore.fold` — decide what counts (reads the tables, writes nothing);
3. the caller forwards ``result.accepted`` (before any table write: see stream.app);
4. :meth:`MeterCore.write` — one table write per touched key;
5. :meth:`MeterCore.expire` — forget state past its horizon, on this record's partition.

6. :meth:`MeterCore.done` — record the offset as processed (in the windows table, so it
   travels in the same changelog partition as the window values it vouches for).

A crash may stop anywhere in between; the next owner replays the record from 1.
The agent runs these steps over a run of records of one partition at once
(``fold(..., into=)``), so each touched key is written once per run.

Ids. Which ids were seen, and at which position, is looked up in memory (one
dict per partition), never in the table. The ``seen`` table is the durable
form of that index, written once per run: one key per run
(``\x00ids:<partition>:<first position>``) holding every id first seen in it,
as ``[[dedupe key, position, basis], ...]``. One changelog record per run
instead of one per event is most of the meter's speed. After every recovery
the index is rebuilt from the table (:meth:`MeterCore.rebuild_index`); a run
key is expired as a whole once its newest basis is past the dedupe horizon.
Keys of the older layout (one per id, ``SeenEntry``) are still read and
expired, so a running deployment upgrades in place.

Gaps. The recorded offset lets the agent notice when the consumer hands it a
record *after* a hole (offset > last processed + 1): a Faust consumer can skip
records around rebalances (faust-streaming issues #216, #221; the chaos suite
saw it after a broker restart), and its offset commit then moves past them.
The agent reads the hole itself and processes it first (stream.app).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass

import orjson

from tokenmeter.events.errors import Rejection
from tokenmeter.events.models import UsageEvent
from tokenmeter.stream.expiry import Expiry, Sweep
from tokenmeter.stream.policy import TimePolicy
from tokenmeter.stream.state import (
    FoldResult,
    SeenEntry,
    WindowKey,
    WindowValue,
    encode_group,
    fold,
    group_key,
    kept,
    position,
    window_values,
)

Table = MutableMapping[bytes, bytes]
PROGRESS_PREFIX = b"\x00progress:"  # windows-table keys that are not windows (JSON keys start with "[")
IDS_PREFIX = b"\x00ids:"  # seen-table keys of a run of ids (the older layout's keys are JSON, "[")


def is_window_key(raw_key: bytes) -> bool:
    return not raw_key.startswith(PROGRESS_PREFIX)


@dataclass(slots=True)
class Judged:
    valid: list[tuple[int, UsageEvent]]
    refused: list[Rejection]


class MeterCore:
    def __init__(self, seen: Table, windows: Table, *, policy: TimePolicy, expiry: Expiry, window_ms: int,
                 band: Callable[[UsageEvent], int] = lambda event: 0) -> None:
        self.seen = seen
        self.windows = windows
        self.band = band
        self.policy = policy
        self.expiry = expiry
        self.window_ms = window_ms
        # partition -> dedupe key -> (position of its first copy, the seen-table key that holds it)
        self.ids: dict[int, dict[bytes, tuple[int, bytes]]] = {}
        self.legacy: set[bytes] = set()  # windows keys of the older one-key-per-window layout

    def judge(self, decoded: Sequence[tuple[int, UsageEvent | Rejection]], *, offset: int,
              record_ms: int) -> Judged:
        """Positioned events that may count, and everything refused (decoding or time policy)."""
        out = Judged([], [])
        for index, item in decoded:
            if isinstance(item, UsageEvent):
                late = self.policy.check(item, record_ms, index=index if len(decoded) > 1 else None)
                if late is None:
                    out.valid.append((position(offset, index), item))
                    continue
                item = late
            out.refused.append(item)
        return out

    def fold(self, valid: list[tuple[int, UsageEvent]], *, partition: int, record_ms: int,
             into: FoldResult | None = None) -> FoldResult:
        ids = self.ids.get(partition, {})
        unplaced = self.ids.get(-1)  # older-layout ids written before partitions were recorded

        def first(dkey: bytes) -> int | None:
            found = ids.get(dkey)
            if found is None and unplaced:
                found = unplaced.get(dkey)
            return None if found is None else found[0]

        out = into if into is not None else FoldResult()
        groups = out.groups

        def current(wkey: WindowKey) -> WindowValue | None:
            # Called once per window key and run (the fold keeps what it changed): the group is
            # read and decoded once per run, and written back whole by write().
            group = groups.get((wkey.tenant, wkey.start_ms))
            if group is None:
                raw_key = group_key(wkey.tenant, wkey.start_ms)
                raw = self.windows.get(raw_key)
                group = groups[wkey.tenant, wkey.start_ms] = (raw_key, {} if raw is None else
                                                             window_values(raw_key, raw)[1])
            value = group[1].get(wkey)
            if value is None and self.legacy:
                value = self._absorb(wkey, out)
            return value

        return fold(valid, seen=first, current=current, window_ms=self.window_ms,
                    partition=partition, record_ms=record_ms, band=self.band, into=out)

    def _absorb(self, wkey: WindowKey, out: FoldResult) -> WindowValue | None:
        """The value of an older-layout key for ``wkey``, if one is stored: it moves into its group
        (write() deletes the old key after writing the group, so a crash between the two leaves
        both, and the group's copy, found first, wins)."""
        raw_key = wkey.encode()
        raw = self.windows.get(raw_key) if raw_key in self.legacy else None
        if raw is None:
            return None
        out.absorbed.append(raw_key)
        return WindowValue.decode(raw)

    def write(self, result: FoldResult, partition: int) -> dict[bytes, list[WindowKey]]:
        """Write every key the fold touched, once; return the groups written, each with the
        window keys in it that the fold touched."""
        if result.seen:
            entries = list(result.seen.items())
            run_key = IDS_PREFIX + b"%d:%d" % (partition, min(e.position for _, e in entries))
            self.seen[run_key] = kept(orjson.dumps([[k.decode(), e.position, e.basis_ms] for k, e in entries]))
            ids = self.ids.setdefault(partition, {})
            for dkey, entry in entries:
                ids[kept(dkey)] = (entry.position, run_key)
            self.expiry.seen.note(partition, run_key, max(e.basis_ms for _, e in entries))
        written: dict[bytes, list[WindowKey]] = {}
        for wkey, value in result.windows.items():
            raw_key, values = result.groups[wkey.tenant, wkey.start_ms]
            values[wkey] = value
            written.setdefault(raw_key, []).append(wkey)
        for (_, start_ms), (raw_key, values) in result.groups.items():
            if raw_key in written:
                self.windows[raw_key] = encode_group(values, partition)
                self.expiry.windows.note(partition, raw_key, start_ms + self.window_ms)
        for raw_key in result.absorbed:
            self.windows.pop(raw_key, None)
            self.legacy.discard(raw_key)
        return written

    def expire(self, partition: int, record_ms: int) -> Sweep | None:
        """Delete what is past its horizon on ``partition``; returns what was deleted, if a sweep ran."""
        due = self.expiry.advance(partition, record_ms)
        if due is None:
            return None
        ids = self.ids.get(partition, {})
        for key in due.seen:
            raw = self.seen.pop(key, None)
            for dkey in _dedupe_keys(key, raw):
                if ids.get(dkey, (0, key))[1] == key:  # a redelivery may have re-recorded it under a newer run
                    ids.pop(dkey, None)
        for raw_key in due.windows:
            self.windows.pop(raw_key, None)
            self.legacy.discard(raw_key)
        return due

    def last_offset(self, partition: int) -> int | None:
        """The last offset of ``partition`` whose record was fully processed, if any."""
        raw = self.windows.get(PROGRESS_PREFIX + b"%d" % partition)
        return None if raw is None else int(raw)

    def done(self, partition: int, offset: int) -> None:
        self.windows[PROGRESS_PREFIX + b"%d" % partition] = b"%d" % offset

    def rebuild_index(self) -> None:
        """After a recovery: index every stored key by its partition and expiry basis."""
        self.expiry.reset()
        self.legacy = set()
        for raw_key, partition, _ in self.window_entries():
            parts = orjson.loads(raw_key)  # [tenant, start] or [tenant, start, provider, ...]
            if len(parts) != 2:
                self.legacy.add(raw_key)
            self.expiry.windows.note(partition, raw_key, parts[1] + self.window_ms)
        self.ids = {}
        for raw_key, raw_value in self.seen.items():
            if raw_key.startswith(IDS_PREFIX):
                partition = int(raw_key[len(IDS_PREFIX):].split(b":")[0])
                ids = self.ids.setdefault(partition, {})
                newest = 0
                for dkey, pos, basis in orjson.loads(raw_value):
                    ids[dkey.encode()] = (pos, raw_key)
                    newest = max(newest, basis)
                self.expiry.seen.note(partition, raw_key, newest)
            else:
                entry = SeenEntry.decode(raw_value)
                self.ids.setdefault(entry.partition, {})[raw_key] = (entry.position, raw_key)
                self.expiry.seen.note(entry.partition, raw_key, entry.basis_ms)

    def window_entries(self) -> Iterator[tuple[bytes, int, dict[WindowKey, WindowValue]]]:
        """Every stored table key of window values (a group, or an older-layout key), with its
        source partition and the values it holds."""
        for raw_key, raw_value in self.windows.items():
            if is_window_key(raw_key):
                partition, values = window_values(raw_key, raw_value)
                yield raw_key, partition, values

    @property
    def ids_remembered(self) -> int:
        return sum(len(ids) for ids in self.ids.values())


def _dedupe_keys(key: bytes, raw: bytes | None) -> list[bytes]:
    """The dedupe keys a seen-table entry holds: a run's ids, or the older layout's one id."""
    if not key.startswith(IDS_PREFIX):
        return [key]
    return [] if raw is None else [dkey.encode() for dkey, _, _ in orjson.loads(raw)]
