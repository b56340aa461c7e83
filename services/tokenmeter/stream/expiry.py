"""Bounded state: which ``seen`` and ``windows`` keys a partition may forget, and when. Pure.

Time here is *stream time*: the highest Kafka record timestamp the meter has
processed on a partition (never the wall clock, so a meter catching up on a
backlog expires state exactly as it would have live).

- A window may be forgotten once its end is older than the lateness horizon
  plus a grace period: no event that can still be counted falls into it.
- An id may be forgotten once its basis (max of event time and the record
  time of its first copy) is older than the dedupe horizon plus the grace.
  Because the dedupe horizon is at least the lateness horizon, a resend of a
  forgotten id carrying the same time is refused as ``too_late`` rather than
  counted again.

The grace period covers redelivery: after a crash the meter re-reads the
records after its last commit, whose timestamps lie within seconds of the
stream time. Any such record whose window or id has been forgotten would be
``too_late`` by the same arithmetic, so a forgotten key is never needed again
as long as the uncommitted tail spans less than the grace period.

Deletes must happen while processing a record of the key's own partition
(Faust writes the changelog tombstone to the current record's partition),
so keys are indexed by partition and swept from the agent, not a timer.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field


@dataclass(slots=True)
class ExpiryIndex:
    """Per partition: key -> expiry basis in ms (a key may be forgotten once basis < cutoff)."""

    _keys: defaultdict[int, dict[bytes, int]] = field(default_factory=lambda: defaultdict(dict))

    def note(self, partition: int, key: bytes, basis_ms: int) -> None:
        if partition >= 0:
            self._keys[partition][key] = basis_ms

    def take_expired(self, partition: int, cutoff_ms: int) -> list[bytes]:
        """Remove and return the partition's keys whose basis is before ``cutoff_ms``."""
        keys = self._keys.get(partition)
        if not keys:
            return []
        expired = [k for k, basis in keys.items() if basis < cutoff_ms]
        for k in expired:
            del keys[k]
        return expired

    def clear(self) -> None:
        self._keys.clear()

    def __len__(self) -> int:
        return sum(len(v) for v in self._keys.values())


@dataclass(slots=True)
class Sweep:
    seen: list[bytes]
    windows: list[bytes]


@dataclass(slots=True)
class Expiry:
    """Tracks stream time per partition and says when to sweep and what to delete."""

    lateness_ms: int
    dedupe_ms: int
    grace_ms: int
    interval_ms: int
    seen: ExpiryIndex = field(default_factory=ExpiryIndex)
    windows: ExpiryIndex = field(default_factory=ExpiryIndex)
    stream_ms: dict[int, int] = field(default_factory=dict)
    _swept_ms: dict[int, int] = field(default_factory=dict)

    def advance(self, partition: int, record_ms: int) -> Sweep | None:
        """Record that ``partition`` reached ``record_ms``; return what to delete if a sweep is due."""
        now = max(self.stream_ms.get(partition, record_ms), record_ms)
        self.stream_ms[partition] = now
        last = self._swept_ms.get(partition)
        if last is not None and now - last < self.interval_ms:
            return None
        self._swept_ms[partition] = now
        return Sweep(
            seen=self.seen.take_expired(partition, now - self.dedupe_ms - self.grace_ms),
            windows=self.windows.take_expired(partition, now - self.lateness_ms - self.grace_ms),
        )

    def reset(self) -> None:
        """Forget the index (after a rebalance it is rebuilt from the recovered tables)."""
        self.seen.clear()
        self.windows.clear()
