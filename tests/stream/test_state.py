"""The fold's exactly-once effect: duplicates, redeliveries and crashes at every point."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tokenmeter.events.models import UsageData, UsageEvent
from tokenmeter.stream.state import (
    Added,
    FoldResult,
    SeenEntry,
    WindowKey,
    WindowValue,
    dedupe_key,
    fold,
    position,
    window_key,
)

T0 = datetime(2026, 11, 5, 10, 0, tzinfo=UTC)
W = 60_000


def ev(i: str, tokens: int = 10, tenant: str = "acme", model: str = "gpt-4o", sec: int = 0) -> UsageEvent:
    return UsageEvent(specversion="1.0", id=i, source="gw", type="llm.usage", subject=tenant,
                      time=T0 + timedelta(seconds=sec),
                      data=UsageData(model=model, provider="openai", input_tokens=tokens, output_tokens=1))


class Store:
    """In-memory stand-in for the two Faust tables, with the same read/write split."""

    def __init__(self) -> None:
        self.seen: dict[bytes, SeenEntry] = {}
        self.windows: dict[WindowKey, WindowValue] = {}

    def first(self, key: bytes) -> int | None:
        entry = self.seen.get(key)
        return None if entry is None else entry.position

    def fold(self, events: list[tuple[int, UsageEvent]]) -> FoldResult:
        return fold(events, seen=self.first, current=self.windows.get, window_ms=W, partition=3)

    def apply(self, r: FoldResult, *, seen: bool = True, windows: bool = True) -> None:
        if seen:
            self.seen.update(r.seen)
        if windows:
            self.windows.update(r.windows)

    def total(self) -> int:
        return sum(v.tokens[0] for v in self.windows.values())


def test_position_orders_batch_members_between_offsets() -> None:
    assert position(5, 0) < position(5, 999) < position(6, 0)


def test_keys_round_trip() -> None:
    k = window_key(ev("a"), W)
    assert WindowKey.decode(k.encode()) == k
    v = WindowValue.empty(5).with_added(Added.of([ev("a")]), 7)
    assert WindowValue.decode(v.encode()) == v
    assert v.partition == 5
    assert SeenEntry.decode(SeenEntry(7, 123, 5).encode()) == SeenEntry(7, 123, 5)


def test_values_written_before_partitions_were_recorded_still_decode() -> None:
    legacy = b"[7,1,1," + b",".join(b"%d" % n for n in range(8)) + b"]"
    assert WindowValue.decode(legacy) == WindowValue(7, 1, tuple(range(8)), 1, -1)
    assert SeenEntry.decode(b"42") == SeenEntry(42, 0, -1)
    assert dedupe_key("a", "b") != dedupe_key("a\x00", "b")


def test_duplicate_at_another_offset_is_skipped() -> None:
    s = Store()
    s.apply(s.fold([(position(1, 0), ev("x", 10))]))
    r = s.fold([(position(2, 0), ev("x", 10))])
    assert [d.id for d in r.duplicates] == ["x"]
    assert r.windows == {} and r.accepted == []
    s.apply(r)
    assert s.total() == 10


def test_duplicate_inside_one_batch_is_skipped() -> None:
    s = Store()
    r = s.fold([(position(1, 0), ev("x")), (position(1, 1), ev("x")), (position(1, 2), ev("y"))])
    assert [d.id for d in r.duplicates] == ["x"]
    [value] = r.windows.values()
    assert (value.events, value.tokens[0], value.watermark) == (2, 20, position(1, 2))


def test_a_run_folded_over_several_calls_sums_every_class_exactly() -> None:
    s = Store()
    s.apply(s.fold([(position(1, 0), ev("a", 7))]))  # stored before the run
    run = FoldResult()
    events = [UsageEvent(specversion="1.0", id=f"m{i}", source="gw", type="llm.usage", subject="acme", time=T0,
                         data=UsageData(model="gpt-4o", provider="openai", input_tokens=i, cached_input_tokens=2 * i,
                                        output_tokens=3, reasoning_tokens=i % 2, requests=1 + i % 3))
              for i in range(10)]
    fold([(position(2, i), e) for i, e in enumerate(events[:4])], seen=s.first, current=s.windows.get,
         window_ms=W, partition=3, into=run)
    fold([(position(3, i), e) for i, e in enumerate(events[4:])], seen=s.first, current=s.windows.get,
         window_ms=W, partition=3, into=run)
    # a position below one already added to this run is a redelivery, never counted twice
    fold([(position(2, 3), events[3])], seen=lambda key: None, current=s.windows.get, window_ms=W,
         partition=3, into=run)
    [value] = run.windows.values()
    assert value.tokens == (7 + 45, 90, 0, 1 + 30, 5, 0, 0, 0)
    assert (value.requests, value.events, value.watermark) == (1 + 19, 11, position(3, 5))
    assert run.redelivered == 1 and len(run.counted) == 10
    assert run.added == {window_key(events[0], W): Added((45, 90, 0, 30, 5, 0, 0, 0), 19, 10)}
    assert run.windows == {window_key(events[0], W): value}  # reading the sums twice adds nothing


def test_batch_writes_each_window_once() -> None:
    s = Store()
    r = s.fold([(position(3, i), ev(str(i), sec=i)) for i in range(100)])
    assert len(r.windows) == 2  # seconds 0..59 and 60..99
    assert sorted(v.events for v in r.windows.values()) == [40, 60]


def test_redelivery_after_both_writes_is_skipped_but_re_emitted() -> None:
    s = Store()
    msg = [(position(1, 0), ev("x"))]
    s.apply(s.fold(msg))
    before = dict(s.windows)
    r = s.fold(msg)  # crash before the offset commit: same offset again
    assert r.redelivered == 1 and r.counted == []
    assert r.windows == before  # rewritten unchanged, so a changelog that missed it catches up
    assert r.seen == s.seen
    assert r.windows.keys() == {window_key(ev("x"), W)}  # so it is written and re-published
    # forwarded again; the sink collapses it
    assert [(e.id, key) for _, e, key in r.accepted] == [("x", window_key(ev("x"), W))]
    assert s.total() == 10


def test_crash_after_seen_but_before_window_counts_once() -> None:
    s = Store()
    msg = [(position(1, 0), ev("x"))]
    s.apply(s.fold(msg), windows=False)  # seen write survived, window write lost
    s.apply(s.fold(msg))
    assert s.total() == 10


def test_crash_after_window_but_before_seen_counts_once_and_still_dedupes() -> None:
    s = Store()
    msg = [(position(1, 0), ev("x"))]
    s.apply(s.fold(msg), seen=False)
    r = s.fold(msg)
    assert r.redelivered == 1
    s.apply(r)
    assert s.seen == {dedupe_key("acme", "x"): SeenEntry(position(1, 0), int(T0.timestamp() * 1000), 3)}
    s.apply(s.fold([(position(9, 0), ev("x"))]))  # a later true duplicate
    assert s.total() == 10


def test_same_id_for_two_tenants_is_two_events() -> None:
    s = Store()
    s.apply(s.fold([(position(1, 0), ev("x", tenant="a")), (position(1, 1), ev("x", tenant="b"))]))
    assert s.total() == 20


# A random stream with duplicates, replayed with crashes at random points, counts each id once.
# The model has two layers per worker: the local store (RocksDB keeps it across a restart) and the
# changelog (what any other worker recovers). A write reaches the local store at once; it reaches
# the changelog only if it was flushed before the crash. Committed offsets are always flushed.
ids = st.lists(st.sampled_from([f"e{i}" for i in range(30)]), min_size=1, max_size=80)
crash = st.tuples(st.integers(0, 79), st.booleans(), st.booleans(), st.booleans(), st.integers(0, 3))


class TwoLayerStore(Store):
    def __init__(self) -> None:
        super().__init__()
        self.changelog = Store()

    def apply_durably(self, r: FoldResult, *, seen: bool = True, windows: bool = True, flushed: bool = True) -> None:
        self.apply(r, seen=seen, windows=windows)
        if flushed:
            self.changelog.apply(r, seen=seen, windows=windows)

    def recover(self, same_worker: bool) -> None:
        """A worker takes the partition: its own local store (ahead or not), or the changelog."""
        if not same_worker:
            self.seen, self.windows = dict(self.changelog.seen), dict(self.changelog.windows)


@given(ids, st.lists(crash, max_size=6))
def test_any_crash_schedule_counts_each_unique_id_once(stream: list[str],
                                                       crashes: list[tuple[int, bool, bool, bool, int]]) -> None:
    messages = [[(position(off, 0), ev(i, tokens=1 + int(i[1:]), sec=int(i[1:]) * 7))] for off, i in enumerate(stream)]
    s = TwoLayerStore()
    committed = 0
    for crash_at, keep_seen, keep_windows, same_worker, lag in sorted(crashes):
        # Process up to crash_at. The last `lag` messages before the crash are not committed and
        # their changelog writes may not have been flushed; the crashing message's writes are partial.
        end = min(crash_at, len(messages))
        for off in range(committed, end):
            s.apply_durably(s.fold(messages[off]), flushed=off < end - lag)
        if crash_at < len(messages):
            s.apply_durably(s.fold(messages[crash_at]), seen=keep_seen, windows=keep_windows, flushed=False)
        committed = max(committed, end - lag)
        s.recover(same_worker)
    for off in range(committed, len(messages)):
        s.apply_durably(s.fold(messages[off]))
    s.recover(same_worker=False)  # the final proof: what a fresh worker recovers from the changelog
    expected = sum(1 + int(i[1:]) for i in set(stream))
    assert s.total() == expected
    assert sum(v.events for v in s.windows.values()) == len(set(stream))


def test_kept_keys_are_right_sized_copies() -> None:
    """orjson hands back an over-allocated buffer (4 KB for a short key, orjson 3.12+); what the
    meter keeps per remembered id and per tenant window must cost about its length."""
    import tracemalloc

    import orjson

    from tokenmeter.stream.state import group_key, kept

    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        keys = [kept(dedupe_key("bench-001", f"req-{i:06d}")) for i in range(2_000)]
        per_key = (tracemalloc.get_traced_memory()[0] - base) / len(keys)
    finally:
        tracemalloc.stop()
    assert per_key < 200, per_key
    assert keys[7] == orjson.dumps(["bench-001", "req-000007"]) and group_key("t", 60_000) == b'["t",60000]'
