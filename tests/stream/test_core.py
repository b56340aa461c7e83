"""The meter's per-record steps over plain dicts: policy, fold, writes, expiry, index rebuild."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from tokenmeter.events.models import UsageData, UsageEvent
from tokenmeter.stream.core import MeterCore, is_window_key
from tokenmeter.stream.expiry import Expiry
from tokenmeter.stream.policy import TimePolicy
from tokenmeter.stream.state import WindowValue

T0 = datetime(2026, 11, 5, 10, 0, tzinfo=UTC)
MS = int(T0.timestamp() * 1000)
HOUR, DAY = 3_600_000, 86_400_000
W = 60_000


def ev(i: str, at: datetime, tokens: int = 10) -> UsageEvent:
    return UsageEvent(specversion="1.0", id=i, source="gw", type="llm.usage", subject="acme", time=at,
                      data=UsageData(model="gpt-4o", provider="openai", input_tokens=tokens))


def make() -> MeterCore:
    return MeterCore({}, {}, policy=TimePolicy(lateness_ms=7 * DAY, future_skew_ms=300_000), window_ms=W,
                     expiry=Expiry(lateness_ms=7 * DAY, dedupe_ms=7 * DAY, grace_ms=HOUR, interval_ms=60_000))


def process(core: MeterCore, offset: int, record_ms: int, *events: UsageEvent) -> tuple[list[str], int]:
    """One record through every step; returns (refusal reasons, events counted)."""
    judged = core.judge(list(enumerate(events)), offset=offset, record_ms=record_ms)
    counted = 0
    if judged.valid:
        result = core.fold(judged.valid, partition=2, record_ms=record_ms)
        core.write(result, 2)
        counted = len(result.counted)
    core.expire(2, record_ms)
    return [r.reason for r in judged.refused], counted


def total(core: MeterCore) -> int:
    return sum(v.tokens[0] for _, _, values in core.window_entries() for v in values.values())


def values(core: MeterCore) -> list[WindowValue]:
    return [v for _, _, group in core.window_entries() for v in group.values()]


def test_a_batch_with_a_too_late_and_a_future_event_counts_the_rest() -> None:
    core = make()
    refused, counted = process(core, 0, MS, ev("a", T0), ev("old", T0 - timedelta(days=8)),
                               ev("ahead", T0 + timedelta(hours=1)), ev("b", T0 - timedelta(days=6)))
    assert refused == ["too_late", "future_timestamp"]
    assert counted == 2 and total(core) == 20


def test_late_event_lands_in_its_own_window_with_a_higher_version() -> None:
    core = make()
    process(core, 0, MS, ev("a", T0))
    process(core, 1, MS + 2 * HOUR, ev("late", T0 + timedelta(seconds=5)))
    [value] = values(core)
    assert (value.events, value.watermark) == (2, 1 << 20)


def test_state_is_forgotten_past_the_horizon_and_a_resend_is_then_too_late_not_counted() -> None:
    core = make()
    process(core, 0, MS, ev("a", T0))
    assert len(core.seen) == 1 and len(core.windows) == 1
    week_later = MS + 7 * DAY + HOUR + W + 1
    refused, counted = process(core, 1, week_later, ev("a", T0))  # the same event, resent a week later
    assert (refused, counted) == (["too_late"], 0)
    assert core.seen == {} and core.windows == {}  # swept on this record's partition
    assert total(core) == 0  # its window was already stored downstream; nothing counted twice


def test_nothing_within_the_horizon_is_forgotten() -> None:
    core = make()
    process(core, 0, MS, ev("a", T0))
    refused, counted = process(core, 1, MS + 7 * DAY, ev("a", T0))  # a duplicate at the very edge
    assert (refused, counted) == ([], 0)
    assert len(core.seen) == 1 and total(core) == 10


def test_index_is_rebuilt_from_recovered_tables() -> None:
    core = make()
    process(core, 0, MS, ev("a", T0), ev("b", T0 + timedelta(minutes=3)))
    recovered = make()
    recovered.seen.update(core.seen)
    recovered.windows.update(core.windows)
    recovered.rebuild_index()
    # one seen key for the record's run of two ids; two windows
    assert (len(recovered.expiry.seen), len(recovered.expiry.windows), recovered.ids_remembered) == (1, 2, 2)
    assert process(recovered, 1, MS + 1000, ev("b", T0 + timedelta(minutes=3))) == ([], 0)  # still a duplicate
    swept = recovered.expire(2, MS + 8 * DAY)
    assert swept is not None and len(swept.seen) == 1 and len(swept.windows) == 2
    assert recovered.seen == {} and recovered.windows == {} and recovered.ids_remembered == 0


def test_a_run_of_records_is_one_seen_key_and_duplicates_inside_it_are_skipped() -> None:
    core = make()
    result = None
    for offset, ids in enumerate((("a", "b"), ("c", "a"), ("d",))):
        judged = core.judge(list(enumerate(ev(i, T0) for i in ids)), offset=offset, record_ms=MS)
        result = core.fold(judged.valid, partition=2, record_ms=MS, into=result)
    assert result is not None
    core.write(result, 2)
    assert [d.id for d in result.duplicates] == ["a"] and len(result.counted) == 4
    assert len(core.seen) == 1 and core.ids_remembered == 4 and total(core) == 40


def test_a_redelivered_run_keeps_its_ids_when_the_first_recording_expires() -> None:
    core = make()
    process(core, 0, MS, ev("a", T0))
    process(core, 1, MS, ev("b", T0))
    assert len(core.seen) == 2
    b_alone = max(core.seen)  # the run key of record 1 (the larger first position)
    # Records 0 and 1 again (after a crash), folded as one run: both ids recorded again under record 0's key.
    result = None
    for offset, i in ((0, "a"), (1, "b")):
        judged = core.judge([(0, ev(i, T0))], offset=offset, record_ms=MS)
        result = core.fold(judged.valid, partition=2, record_ms=MS, into=result)
    assert result is not None and result.redelivered == 2
    core.write(result, 2)
    core.expiry.seen.note(2, b_alone, 0)  # as if record 1's own recording expired first
    swept = core.expire(2, MS + 2 * W)
    assert swept is not None and swept.seen == [b_alone] and b_alone not in core.seen
    assert process(core, 2, MS + 2 * W, ev("b", T0)) == ([], 0)  # still known: no double count
    assert total(core) == 20


def test_ids_of_the_older_one_key_per_id_layout_are_still_honoured_and_expired() -> None:
    from tokenmeter.stream.state import SeenEntry, dedupe_key

    core = make()
    core.seen[dedupe_key("acme", "old")] = SeenEntry(5, MS, 2).encode()
    core.seen[dedupe_key("acme", "older")] = SeenEntry(3, 0, -1).encode()[:1]  # from before partitions
    core.rebuild_index()
    assert process(core, 9, MS, ev("old", T0), ev("older", T0), ev("new", T0)) == ([], 1)
    core.expire(2, MS + 8 * DAY + 2 * HOUR)
    assert dedupe_key("acme", "old") not in core.seen


def test_progress_is_kept_per_partition_beside_the_windows_and_is_not_a_window() -> None:
    core = make()
    assert core.last_offset(2) is None
    process(core, 0, MS, ev("a", T0))
    core.done(2, 41)
    core.done(5, 7)
    assert (core.last_offset(2), core.last_offset(5)) == (41, 7)
    window_keys = [k for k in core.windows if is_window_key(k)]
    assert len(window_keys) == 1 and len(core.windows) == 3
    core.rebuild_index()  # progress keys are never indexed, so never expired
    assert len(core.expiry.windows) == 1


def test_requests_above_a_cliff_are_windowed_apart_and_rated_at_the_cliff() -> None:
    from tokenmeter.pricing.catalog import builtin_price_book
    from tokenmeter.pricing.rating import rate

    book = builtin_price_book()

    def band(e: UsageEvent) -> int:
        return book.band(e.data.provider, e.data.model, e.time_ms, e.token_counts())

    core = MeterCore({}, {}, policy=TimePolicy(7 * DAY, 300_000), window_ms=W, band=band,
                     expiry=Expiry(lateness_ms=7 * DAY, dedupe_ms=7 * DAY, grace_ms=HOUR, interval_ms=60_000))

    def pro(i: str, tokens: int) -> UsageEvent:
        return UsageEvent(specversion="1.0", id=i, source="gw", type="llm.usage", subject="acme", time=T0,
                          data=UsageData(model="gemini-2.5-pro", provider="google", input_tokens=tokens,
                                         output_tokens=1_000))

    judged = core.judge([(0, pro("small", 200_000)), (1, pro("large", 200_001))], offset=0, record_ms=MS)
    result = core.fold(judged.valid, partition=2, record_ms=MS)
    assert sorted((k.band, v.tokens[0]) for k, v in result.windows.items()) == [(0, 200_000), (1, 200_001)]
    money = {k.band: rate(v.tokens, v.requests, book.lookup(k.provider, k.model, k.start_ms, band=k.band)).total
             for k, v in result.windows.items()}
    assert money == {0: D("0.25") + D("0.01"), 1: D("0.5000025") + D("0.015")}


def model_ev(i: str, model: str, tokens: int, at: datetime = T0) -> UsageEvent:
    return UsageEvent(specversion="1.0", id=i, source="gw", type="llm.usage", subject="acme", time=at,
                      data=UsageData(model=model, provider="openai", input_tokens=tokens))


def test_a_tenants_window_is_one_table_key_and_each_model_keeps_its_own_watermark() -> None:
    from tokenmeter.stream.state import group_key

    core = make()
    process(core, 0, MS, model_ev("a", "gpt-4o", 10), model_ev("b", "gpt-4o-mini", 20))
    process(core, 1, MS, model_ev("c", "gpt-4o", 5))
    assert list(core.windows) == [group_key("acme", MS)]
    [(_, partition, group)] = list(core.window_entries())
    assert partition == 2
    assert {k.model: (v.watermark, v.events, v.tokens[0]) for k, v in group.items()} == {
        "gpt-4o": (1 << 20, 2, 15), "gpt-4o-mini": (1, 1, 20)}
    # Record 0 again (a redelivery after a crash): both of its events are found folded, nothing changes.
    judged = core.judge(list(enumerate((model_ev("a", "gpt-4o", 10), model_ev("b", "gpt-4o-mini", 20)))),
                        offset=0, record_ms=MS)
    result = core.fold(judged.valid, partition=2, record_ms=MS)
    assert (result.redelivered, len(result.counted)) == (2, 0)
    assert core.write(result, 2) == {group_key("acme", MS): [k for k in result.windows]}
    assert total(core) == 35


def test_a_window_of_the_older_one_key_per_window_layout_moves_into_its_group() -> None:
    from tokenmeter.stream.state import WindowKey, group_key

    core = make()
    old_key = WindowKey("acme", MS, "openai", "gpt-4o", "standard", 0)
    tokens = (300, *WindowValue.empty().tokens[1:])
    core.windows[old_key.encode()] = WindowValue(7 << 20, 3, tokens, 3, 2).encode()
    core.rebuild_index()
    assert core.legacy == {old_key.encode()} and total(core) == 300
    # A redelivery of the old layout's last record is skipped; a new record adds to the moved value.
    assert process(core, 7, MS, model_ev("r", "gpt-4o", 1)) == ([], 0)
    assert core.windows.keys() == {group_key("acme", MS)} and core.legacy == set()
    assert process(core, 8, MS, model_ev("n", "gpt-4o", 10)) == ([], 1)
    [value] = values(core)
    assert (value.watermark, value.events, value.requests, value.tokens[0]) == (8 << 20, 4, 4, 310)
