"""State expiry: only what can never be counted again is forgotten, per partition, on stream time."""

from __future__ import annotations

from tokenmeter.stream.expiry import Expiry, ExpiryIndex

HOUR = 3_600_000
DAY = 24 * HOUR


def make() -> Expiry:
    return Expiry(lateness_ms=7 * DAY, dedupe_ms=8 * DAY, grace_ms=HOUR, interval_ms=60_000)


def test_windows_and_ids_expire_after_their_horizon_plus_grace() -> None:
    e = make()
    e.windows.note(2, b"w-old", 1_000)
    e.windows.note(2, b"w-new", 1_000 + DAY)
    e.seen.note(2, b"id-old", 1_000)
    assert e.advance(2, 1_000 + 7 * DAY + HOUR) is not None  # first record: sweeps, nothing old enough yet
    sweep = e.advance(2, 1_001 + 7 * DAY + HOUR + 60_000)
    assert sweep is not None
    assert sweep.windows == [b"w-old"] and sweep.seen == []  # ids live a day longer (dedupe horizon 8 d)
    sweep = e.advance(2, 1_001 + 8 * DAY + HOUR + 120_000)
    assert sweep is not None
    assert sweep.seen == [b"id-old"] and sweep.windows == [b"w-new"]
    assert len(e.seen) == 0 and len(e.windows) == 0


def test_sweeps_are_rate_limited_per_partition_on_stream_time() -> None:
    e = make()
    assert e.advance(0, 10 * DAY) is not None
    assert e.advance(0, 10 * DAY + 59_999) is None
    assert e.advance(1, 10 * DAY) is not None  # another partition has its own clock
    assert e.advance(0, 10 * DAY + 60_000) is not None


def test_stream_time_never_goes_backwards() -> None:
    e = make()
    e.windows.note(4, b"w", 5 * DAY)
    e.advance(4, 13 * DAY)
    e.advance(4, 1_000)  # an older record (redelivery) does not move stream time back
    assert e.stream_ms[4] == 13 * DAY


def test_keys_of_other_partitions_and_of_unknown_partition_are_kept() -> None:
    e = make()
    e.windows.note(1, b"p1", 0)
    e.windows.note(-1, b"legacy", 0)  # written before values carried a partition: never indexed
    sweep = e.advance(0, 100 * DAY)
    assert sweep is not None and sweep.windows == []
    assert len(e.windows) == 1


def test_index_take_expired_removes_only_older_keys() -> None:
    idx = ExpiryIndex()
    for i in range(5):
        idx.note(0, b"%d" % i, i)
    assert sorted(idx.take_expired(0, 3)) == [b"0", b"1", b"2"]
    assert idx.take_expired(0, 3) == []
    assert len(idx) == 2
