from __future__ import annotations

import orjson
import pytest
from hypothesis import given
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
