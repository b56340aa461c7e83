"""Lateness and skew are judged against the record's timestamp, with exact boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from tokenmeter.events.models import UsageData, UsageEvent
from tokenmeter.settings import StreamSettings
from tokenmeter.stream.policy import TimePolicy

T0 = datetime(2026, 11, 5, 10, 0, tzinfo=UTC)
MS = int(T0.timestamp() * 1000)
DAY = 86_400_000
POLICY = TimePolicy.from_settings(StreamSettings())


def ev(offset: timedelta) -> UsageEvent:
    return UsageEvent(specversion="1.0", id="e1", source="gw", type="llm.usage", subject="acme", time=T0 + offset,
                      data=UsageData(model="gpt-4o", provider="openai", input_tokens=1))


def test_defaults_are_seven_days_and_five_minutes() -> None:
    assert TimePolicy(lateness_ms=7 * DAY, future_skew_ms=300_000) == POLICY


@pytest.mark.parametrize(("offset", "reason"), [
    (timedelta(0), None),
    (-timedelta(days=7), None),                                 # exactly at the horizon: still counts
    (-timedelta(days=7, milliseconds=1), "too_late"),
    (timedelta(minutes=5), None),                               # exactly the allowed skew
    (timedelta(minutes=5, milliseconds=1), "future_timestamp"),
    (-timedelta(days=3), None),                                 # late but inside the horizon
])
def test_verdicts_at_the_boundaries(offset: timedelta, reason: str | None) -> None:
    verdict = POLICY.check(ev(offset), MS, index=None, raw=b"{}")
    assert (verdict.reason if verdict else None) == reason


def test_refusal_names_the_field_the_event_and_its_place_in_the_batch() -> None:
    verdict = POLICY.check(ev(-timedelta(days=8)), MS, index=3, raw=b"{}")
    assert verdict is not None
    assert (verdict.index, verdict.event_id, verdict.tenant) == (3, "e1", "acme")
    [err] = verdict.errors
    assert err.field == "time"
    assert err.reason == "event time is 691200 s before its record was written; the horizon is 604800 s"


def test_the_same_record_gets_the_same_verdict_whatever_the_wall_clock() -> None:
    # Nothing but the event and the record timestamp goes in: a replay next week agrees.
    assert POLICY.check(ev(-timedelta(days=6)), MS, index=None, raw=b"") is None
    assert POLICY.check(ev(-timedelta(days=6)), MS, index=None, raw=b"") is None


def test_dedupe_horizon_shorter_than_lateness_is_refused_at_start_up() -> None:
    with pytest.raises(ValidationError, match="DEDUPE_HORIZON_SECONDS must be >= "):
        StreamSettings(lateness_horizon_seconds=7 * 86_400, dedupe_horizon_seconds=86_400)
