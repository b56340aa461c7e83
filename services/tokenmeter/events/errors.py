"""Why an event was refused. Reason codes are a contract: dashboards and DLQ readers match on them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

# Machine-readable DLQ reasons.
UNDECODABLE: Final = "undecodable"          # not UTF-8 JSON
TOO_LARGE: Final = "too_large"              # event or message over its byte limit
NOT_AN_EVENT: Final = "not_an_event"        # JSON, but neither an object nor a batch array
BATCH_TOO_LARGE: Final = "batch_too_large"  # more events in one message than allowed
SCHEMA_VIOLATION: Final = "schema_violation"  # a field is missing or has a bad value
KEY_MISMATCH: Final = "key_mismatch"        # Kafka key is not the event's tenant (subject)
TOO_LATE: Final = "too_late"                # event time older than the lateness horizon
FUTURE_TIMESTAMP: Final = "future_timestamp"  # event time too far after its Kafka record was written

REASONS: Final = (UNDECODABLE, TOO_LARGE, NOT_AN_EVENT, BATCH_TOO_LARGE, SCHEMA_VIOLATION, KEY_MISMATCH, TOO_LATE,
                  FUTURE_TIMESTAMP)


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str   # dotted path, e.g. "data.input_tokens"; "" for the whole event
    reason: str  # human-readable


@dataclass(frozen=True, slots=True)
class Rejection:
    """An event (or a whole message) that cannot be counted, and why."""

    reason: str
    errors: tuple[FieldError, ...]
    raw: bytes
    index: int | None = None  # position inside a batch message; None for a single-event message
    event_id: str | None = None
    tenant: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
