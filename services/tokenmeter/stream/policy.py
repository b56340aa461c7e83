"""When an event is too old or too new to count. Pure.

The reference clock is the Kafka record's timestamp (the events topic is
created with ``message.timestamp.type=LogAppendTime``, so it is the broker's
clock at append). A record redelivered after a crash carries the same
timestamp, so it gets the same verdict as the first time: the decision never
depends on when the meter happens to run.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokenmeter.events import errors as reasons
from tokenmeter.events.errors import FieldError, Rejection
from tokenmeter.events.models import UsageEvent
from tokenmeter.ingest.producer import encode_event
from tokenmeter.settings import StreamSettings


@dataclass(frozen=True, slots=True)
class TimePolicy:
    lateness_ms: int
    future_skew_ms: int

    @classmethod
    def from_settings(cls, st: StreamSettings) -> TimePolicy:
        return cls(st.lateness_horizon_seconds * 1000, st.future_skew_seconds * 1000)

    def check(self, event: UsageEvent, record_ms: int, *, index: int | None,
              raw: bytes | None = None) -> Rejection | None:
        """None if ``event`` may be counted; otherwise why not. ``raw`` (the event's bytes for the
        dead-letter record) is serialised from the event only when it is refused."""
        age = record_ms - event.time_ms
        if age > self.lateness_ms:
            why = f"event time is {age / 1000:.0f} s before its record was written; the horizon is " \
                  f"{self.lateness_ms / 1000:.0f} s"
            return self._reject(reasons.TOO_LATE, why, event, index, raw)
        if -age > self.future_skew_ms:
            why = f"event time is {-age / 1000:.0f} s after its record was written; at most " \
                  f"{self.future_skew_ms / 1000:.0f} s of clock skew is allowed"
            return self._reject(reasons.FUTURE_TIMESTAMP, why, event, index, raw)
        return None

    @staticmethod
    def _reject(reason: str, why: str, event: UsageEvent, index: int | None, raw: bytes | None) -> Rejection:
        return Rejection(reason, (FieldError("time", why),), raw if raw is not None else encode_event(event),
                         index=index, event_id=event.id, tenant=event.subject)
