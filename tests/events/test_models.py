from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from tokenmeter.events.models import TOKEN_CLASSES, UsageEvent


def doc(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "specversion": "1.0", "id": "req-1", "source": "gw", "type": "llm.usage", "subject": "acme",
        "time": "2026-11-05T10:00:00.123Z",
        "data": {"model": "gpt-4o", "provider": "openai", "input_tokens": 10, "output_tokens": 5},
    }
    base.update(over)
    return base


def data(**over: object) -> dict[str, object]:
    d: dict[str, object] = {"model": "gpt-4o", "provider": "openai", "input_tokens": 10}
    d.update(over)
    return d


def errors_of(payload: dict[str, object]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        UsageEvent.model_validate(payload)
    return [(".".join(str(p) for p in e["loc"]), e["type"]) for e in info.value.errors()]


def test_valid_event_defaults_and_time() -> None:
    ev = UsageEvent.model_validate(doc())
    assert ev.tenant == "acme"
    assert ev.time_ms == 1_793_872_800_123  # date -u -d @1793872800 -> 2026-11-05 10:00:00
    assert ev.data.requests == 1
    assert ev.data.service_tier == "standard"
    assert ev.token_counts() == (10, 0, 0, 5, 0, 0, 0, 0)
    assert len(TOKEN_CLASSES) == len(ev.token_counts())


def test_time_with_offset_is_converted_to_utc() -> None:
    ev = UsageEvent.model_validate(doc(time="2026-11-05T12:00:00+02:00"))
    assert ev.time == datetime(2026, 11, 5, 10, 0, tzinfo=UTC)
    assert ev.time.utcoffset() == timedelta(0)


def test_time_ms_before_epoch_is_exact() -> None:
    ev = UsageEvent.model_validate(doc(time=datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)))
    assert ev.time_ms == -1


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (doc(time="2026-11-05T10:00:00"), [("time", "timezone_aware")]),
        ({k: v for k, v in doc().items() if k != "time"}, [("time", "missing")]),
        ({k: v for k, v in doc().items() if k != "id"}, [("id", "missing")]),
        (doc(id=""), [("id", "string_too_short")]),
        (doc(subject=""), [("subject", "string_too_short")]),
        (doc(subject="a\nb"), [("subject", "string_pattern_mismatch")]),
        (doc(subject="x" * 257), [("subject", "string_too_long")]),
        (doc(type="llm.other"), [("type", "literal_error")]),
        (doc(specversion="0.3"), [("specversion", "literal_error")]),
        (doc(data=data(input_tokens=-1)), [("data.input_tokens", "greater_than_equal")]),
        (doc(data=data(input_tokens=1.5)), [("data.input_tokens", "int_type")]),
        (doc(data=data(input_tokens="10")), [("data.input_tokens", "int_type")]),
        (doc(data=data(input_tokens=True)), [("data.input_tokens", "int_type")]),
        (doc(data=data(output_tokens=10**12 + 1)), [("data.output_tokens", "less_than_equal")]),
        (doc(data=data(prompt_tokens=5)), [("data.prompt_tokens", "extra_forbidden")]),
        (doc(data={"provider": "openai"}), [("data.model", "missing")]),
        (doc(data=data(service_tier="Fast Lane")), [("data.service_tier", "string_pattern_mismatch")]),
        (doc(data=data(requests=-1)), [("data.requests", "greater_than_equal")]),
    ],
)
def test_invalid_events_name_the_field(payload: dict[str, object], expected: list[tuple[str, str]]) -> None:
    assert errors_of(payload) == expected


def test_cloudevents_extension_attributes_are_ignored() -> None:
    ev = UsageEvent.model_validate(doc(traceparent="00-abc-def-01"))
    assert ev.id == "req-1"


def test_derived_values_are_computed_once_and_stay_out_of_equality_and_dumps() -> None:
    from datetime import UTC, datetime

    event = UsageEvent.model_validate(doc())
    assert "time_ms" not in event.__dict__
    assert event.time_ms == int(datetime(2026, 11, 5, 10, 0, 0, 123000, tzinfo=UTC).timestamp() * 1000)
    assert event.__dict__["time_ms"] == event.time_ms  # stored on first read: later reads are plain lookups
    assert event.token_counts() == (10, 0, 0, 5, 0, 0, 0, 0)
    assert event == UsageEvent.model_validate(doc())  # the other one has computed nothing yet
    assert "time_ms" not in event.model_dump() and "_counts" not in event.model_dump_json()
