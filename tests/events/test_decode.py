from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.events.test_models import doc
from tokenmeter.events import errors as e
from tokenmeter.events.decode import decode_message
from tokenmeter.events.errors import Rejection
from tokenmeter.events.models import MAX_BATCH_EVENTS, UsageEvent


def test_single_event() -> None:
    [(index, item)] = decode_message(orjson.dumps(doc()), b"acme")
    assert index == 0
    assert isinstance(item, UsageEvent)
    assert item.id == "req-1"


def test_batch_keeps_order_and_rejects_per_event() -> None:
    batch = [doc(id="a"), doc(id="b", data={"model": "m"}), doc(id="c")]
    out = decode_message(orjson.dumps(batch), b"acme")
    assert [i for i, _ in out] == [0, 1, 2]
    assert isinstance(out[0][1], UsageEvent)
    bad = out[1][1]
    assert isinstance(bad, Rejection)
    assert bad.reason == e.SCHEMA_VIOLATION
    assert bad.index == 1
    assert bad.event_id == "b"
    assert [(f.field, f.reason) for f in bad.errors] == [("data.provider", "Field required")]
    assert isinstance(out[2][1], UsageEvent)


@pytest.mark.parametrize(
    ("value", "key", "reason"),
    [
        (b"\xff\xfe", b"acme", e.UNDECODABLE),
        (b"{not json", b"acme", e.UNDECODABLE),
        (b"", b"acme", e.UNDECODABLE),
        (None, b"acme", e.UNDECODABLE),
        (b"42", b"acme", e.NOT_AN_EVENT),
        (b'"text"', b"acme", e.NOT_AN_EVENT),
        (orjson.dumps([doc()] * (MAX_BATCH_EVENTS + 1)), b"acme", e.BATCH_TOO_LARGE),
        (b" " * (1024 * 1024 + 1), b"acme", e.TOO_LARGE),
        (orjson.dumps(doc(dataschema="x" * 100, source="s" * 500, padding="p" * 70_000)), b"acme", e.TOO_LARGE),
        (orjson.dumps(doc()), b"other", e.KEY_MISMATCH),
        (orjson.dumps(doc()), None, e.KEY_MISMATCH),
        (orjson.dumps([1]), b"acme", e.NOT_AN_EVENT),
    ],
)
def test_rejections_carry_a_reason(value: bytes | None, key: bytes | None, reason: str) -> None:
    [(_, item)] = decode_message(value, key)
    assert isinstance(item, Rejection)
    assert item.reason == reason
    assert item.errors and item.errors[0].reason


def test_key_mismatch_keeps_identity() -> None:
    [(_, item)] = decode_message(orjson.dumps(doc()), b"other")
    assert isinstance(item, Rejection)
    assert (item.event_id, item.tenant) == ("req-1", "acme")
    assert item.errors[0].field == "subject"


@given(st.binary(max_size=2000), st.one_of(st.none(), st.binary(max_size=20)))
def test_never_raises_on_arbitrary_bytes(value: bytes, key: bytes | None) -> None:
    out = decode_message(value, key)
    assert len(out) >= 1
    assert all(isinstance(item, UsageEvent | Rejection) for _, item in out)


def outcome(decoded: list[tuple[int, UsageEvent | Rejection]]) -> list[tuple[object, ...]]:
    return [(i, item.model_dump_json()) if isinstance(item, UsageEvent) else (i, item.reason, item.errors)
            for i, item in decoded]


FIELD_VALUES = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
                         st.sampled_from(["2026-11-05T10:00:00Z", "2026-11-05T10:00:00+02:00", "2026-11-05T10:00:00",
                                          "2026-11-05T10:00:00+00:00", "2026-11-05T04:30:00.123456-05:30",
                                          "1793872800", "2026-11-05", "1.0", "llm.usage", "acme", "openai", "gpt-4o"]))


@example([], 3, True)
@example([("data.input_tokens", 2**70)], 1, False)
@example([("other", 2**70)], 1, False)
@given(st.lists(st.tuples(st.sampled_from(["time", "id", "subject", "specversion", "data.input_tokens",
                                           "data.requests", "data.batch", "data.model", "data.extra", "other"]),
                          FIELD_VALUES), max_size=4), st.integers(min_value=1, max_value=4), st.booleans())
def test_the_one_call_path_decides_as_the_item_by_item_path(changes: list[tuple[str, object]], n: int,
                                                            batch: bool) -> None:
    """decode_message validates a message's JSON bytes in one call when every event is valid;
    for any message it must give what the item-by-item path gives."""
    from tokenmeter.events.decode import decode_items

    docs = [doc(id=f"e{i}") for i in range(n)]
    for field, value in changes:
        target = docs[len(field) % n]
        if field.startswith("data."):
            target["data"] = {**target["data"], field[5:]: value}
        else:
            target[field] = value
    raw = json.dumps(docs if batch else docs[0]).encode()  # stdlib: it writes integers beyond 64 bits too
    assert outcome(decode_message(raw, b"acme")) == outcome(decode_items(raw, b"acme"))
    assert outcome(decode_message(raw, None, keyed=False)) == outcome(decode_items(raw, None, keyed=False))


@pytest.mark.parametrize("time", ["2026-11-05T10:00:00.250Z", "2026-11-05T10:00:00.250+00:00",
                                  "2026-11-05T12:00:00.250+02:00", "2026-11-05T04:30:00.250-05:30"])
def test_every_offset_is_held_in_utc_whichever_path_decoded_it(time: str) -> None:
    # offset zero takes the one-call JSON path; any other offset falls back to the Python-object path
    [(_, event)] = decode_message(orjson.dumps(doc(time=time)), b"acme")
    assert isinstance(event, UsageEvent)
    assert event.time.utcoffset().total_seconds() == 0
    assert (event.time.hour, event.time_ms % 86_400_000) == (10, 36_000_250)
    # the model's own JSON validation, without decode.py's fallback, decides the same
    assert UsageEvent.model_validate_json(orjson.dumps(doc(time=time))).time == event.time


def test_a_number_as_time_is_refused_with_the_reason_on_either_path() -> None:
    for value in (orjson.dumps(doc(time=1793872800)), orjson.dumps([doc(id="a"), doc(id="b", time=1.5)])):
        refused = [item for _, item in decode_message(value, b"acme") if isinstance(item, Rejection)]
        assert [(r.reason, [(f.field, f.reason) for f in r.errors]) for r in refused] == [
            (e.SCHEMA_VIOLATION, [("time", "Value error, must be an RFC 3339 string with a UTC offset, "
                                           "e.g. 2026-11-05T10:00:00Z, not a number")])]
