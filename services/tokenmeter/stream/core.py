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

Gaps. The recorded offset lets the agent notice when the consumer hands it a
record *after* a hole (offset > last processed + 1): a Faust consumer can skip
records around rebalances (faust-streaming issues #216, #221; the chaos suite
saw it after a broker restart), and its offset commit then moves past them.
The agent reads the hole itself and processes it first (stream.app).
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass

from tokenmeter.events.errors import Rejection
from tokenmeter.events.models import UsageEvent
from tokenmeter.stream.expiry import Expiry, Sweep
from tokenmeter.stream.policy import TimePolicy
from tokenmeter.stream.state import FoldResult, SeenEntry, WindowKey, WindowValue, fold, position

Table = MutableMapping[bytes, bytes]
PROGRESS_PREFIX = b"\x00progress:"  # windows-table keys that are not windows (JSON keys start with "[")


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

    def fold(self, valid: list[tuple[int, UsageEvent]], *, partition: int, record_ms: int) -> FoldResult:
        return fold(valid, seen=self._first, current=self._window, window_ms=self.window_ms,
                    partition=partition, record_ms=record_ms, band=self.band)

    def write(self, result: FoldResult, partition: int) -> None:
        for dkey, entry in result.seen.items():
            self.seen[dkey] = entry.encode()
            self.expiry.seen.note(partition, dkey, entry.basis_ms)
        for wkey, value in result.windows.items():
            raw_key = wkey.encode()
            self.windows[raw_key] = value.encode()
            self.expiry.windows.note(partition, raw_key, wkey.start_ms + self.window_ms)

    def expire(self, partition: int, record_ms: int) -> Sweep | None:
        """Delete what is past its horizon on ``partition``; returns what was deleted, if a sweep ran."""
        due = self.expiry.advance(partition, record_ms)
        if due is None:
            return None
        for dkey in due.seen:
            self.seen.pop(dkey, None)
        for raw_key in due.windows:
            self.windows.pop(raw_key, None)
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
        for raw_key, raw_value in self.windows.items():
            if not is_window_key(raw_key):
                continue
            value = WindowValue.decode(raw_value)
            self.expiry.windows.note(value.partition, raw_key, WindowKey.decode(raw_key).start_ms + self.window_ms)
        for raw_key, raw_value in self.seen.items():
            entry = SeenEntry.decode(raw_value)
            self.expiry.seen.note(entry.partition, raw_key, entry.basis_ms)

    def _first(self, key: bytes) -> int | None:
        value = self.seen.get(key)
        return None if value is None else SeenEntry.decode(value).position

    def _window(self, key: WindowKey) -> WindowValue | None:
        value = self.windows.get(key.encode())
        return None if value is None else WindowValue.decode(value)
