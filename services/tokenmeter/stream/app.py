"""The meter: a Faust app that validates, dedupes, windows and rates usage events.

Per input message: decode -> dead-letter the refused -> fold the valid ones
into window values (stream.state) -> write each touched table key once ->
forward accepted events. A timer publishes cumulative, rated snapshots of the
windows that changed. The ClickHouse sink runs beside it in the same process.

Faust is used at-least-once (its exactly_once mode has open bugs; see
FIELD-NOTES); exactly-once effect comes from the idempotent state in
stream.state and idempotent sinks. Agent concurrency stays 1.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import faust
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.streams import _current_event
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tokenmeter.events.decode import decode_message
from tokenmeter.events.models import TOKEN_CLASSES, UsageEvent
from tokenmeter.faults import METER_RAISES, NO_FAULTS, Faults, InjectedFault
from tokenmeter.observability import metrics
from tokenmeter.observability.bounded import BoundedLabel
from tokenmeter.observability.business import CostMeter, count_groups
from tokenmeter.pricing.book import PriceBook
from tokenmeter.pricing.catalog import load_plans
from tokenmeter.pricing.rating import rate
from tokenmeter.settings import Settings
from tokenmeter.storage.clickhouse import ClickHouse
from tokenmeter.storage.queries import tenant_totals
from tokenmeter.storage.rows import COST_COLUMNS
from tokenmeter.stream.budgets import BudgetWatch
from tokenmeter.stream.core import MeterCore, is_window_key
from tokenmeter.stream.crash import exit_on_crash
from tokenmeter.stream.dlq import dlq_message
from tokenmeter.stream.expiry import Expiry
from tokenmeter.stream.messages import accepted_doc, docs_message, snapshot_doc
from tokenmeter.stream.policy import TimePolicy
from tokenmeter.stream.sink import Sink, record_lag, times_header
from tokenmeter.stream.state import FoldResult, WindowKey, group_key, window_values
from tokenmeter.stream.transport import MeterApp

log = logging.getLogger(__name__)


class Record(NamedTuple):
    """The parts of a Kafka record the meter reads."""

    offset: int
    timestamp_s: float
    key: bytes | None
    value: bytes | None


class Prepared(NamedTuple):
    """A partition's run of records, folded, with its sends under way; written once they are acked."""

    partition: int
    records: list[Record]
    anchor: Any  # one of the run's Faust events: table reads and writes go to its partition
    result: FoldResult
    sends: list[Awaitable[Any]]
    newest_ms: int  # the newest record timestamp of the run (stream time, for expiry)


def build_app(
    settings: Settings,
    *,
    db: ClickHouse | None,
    prices: PriceBook,
    clock: Callable[[], float] = time.time,
    web: bool = True,
    faults: Faults = NO_FAULTS,
) -> faust.App:
    """Wire the meter, its tables and topics, the snapshot timer, the sink and the HTTP pages.

    With ``db=None`` the process runs the meter only (no sink, no /v1/totals).
    """
    st, kafka = settings.stream, settings.kafka
    window_ms = st.window_seconds * 1000
    app = MeterApp(
        st.meter_app_id,
        broker=";".join(f"kafka://{h}" for h in kafka.bootstrap_servers.split(",")),
        broker_credentials=kafka.faust_credentials(),
        store=st.store,
        broker_session_timeout=st.session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, st.session_timeout_seconds / 3),
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        producer_acks=-1,
        datadir=str(st.var_dir / "faust" / st.meter_app_id),
        web_enabled=web,
        web_bind=settings.http.host,
        web_host=settings.http.host,
        web_port=settings.http.port,
        web_in_thread=False,
        key_serializer="raw",
        value_serializer="raw",
    )
    # Bytes in, bytes out: we parse with orjson ourselves (faster than Faust's codecs, and a bad
    # record must reach our code to be dead-lettered rather than fail inside Faust).

    def raw_topic(name: str) -> Any:
        # Topics take the serializers as arguments: a Schema passed to app.topic is not used for decoding.
        return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    events_topic = raw_topic(st.events_topic)

    async def send(topic: str, key: bytes | None, value: bytes,
                   headers: list[tuple[str, bytes]] | None = None) -> Awaitable[Any]:
        """Start a send on Faust's own producer (the one it flushes before committing); await the
        result for the broker's ack. Topic.send wraps this in channel futures, callbacks and
        sensors: about half the cost of publishing a window snapshot in the benchmark profile."""
        ack: Awaitable[Any] = await app.producer.send(topic, key, value, None, None, headers)
        return ack
    # Tables derive their changelog serializers from key_type/value_type (a schema= is ignored
    # there): bytes means raw, anything else means JSON, which would hand recovered values back
    # as lists and strings instead of the bytes written.
    seen = app.Table("seen", key_type=bytes, value_type=bytes, partitions=kafka.partitions)
    windows = app.Table("windows", key_type=bytes, value_type=bytes, partitions=kafka.partitions)

    # windows-table keys to publish -> the window keys in them that changed (None: all of them)
    dirty: dict[bytes, set[WindowKey] | None] = {}
    tenant_label = st.tenant_label()
    model_label = BoundedLabel(st.metrics_model_limit)
    cost_meter = CostMeter(tenant_label, model_label)
    sweep = {"pending": True}  # after start-up and every recovery, re-publish every window

    def price_band(event: UsageEvent) -> int:
        d = event.data
        return prices.band(d.provider, d.model, event.time_ms, event.token_counts())

    core = MeterCore(
        seen, windows, policy=TimePolicy.from_settings(st), window_ms=window_ms, band=price_band,
        expiry=Expiry(lateness_ms=st.lateness_horizon_seconds * 1000, dedupe_ms=st.dedupe_horizon_seconds * 1000,
                      grace_ms=st.expiry_grace_seconds * 1000, interval_ms=st.expiry_interval_seconds * 1000))

    @windows.on_recover
    async def _on_recover() -> None:
        sweep["pending"] = True
        core.rebuild_index()
        _state_gauges()

    def _state_gauges() -> None:
        metrics.STATE_KEYS.labels("windows").set(len(core.expiry.windows))
        metrics.STATE_KEYS.labels("seen").set(core.ids_remembered)

    @app.agent(events_topic, concurrency=1)
    async def meter(stream: Any) -> None:
        # Records come in runs (up to meter_batch_records, or what arrived within meter_batch_seconds);
        # each partition's part of a run is folded as one and written once. Faust acks the run's
        # records only after this body returns, so a crash replays the whole run.
        with exit_on_crash("the meter"):
            await _meter_loop(stream)

    async def _meter_loop(stream: Any) -> None:
        async for events in stream.take_events(st.meter_batch_records, within=st.meter_batch_seconds):
            generation = app.consumer_generation_id
            by_partition: dict[int, list[Any]] = {}
            for event in events:
                # A run can hold records fetched before a rebalance (take_events buffers them past
                # Faust's own check). Their partition may have moved: metering them here would write
                # this worker's stale values into another owner's changelog. Skip them; the owner
                # reads them again from the committed offset.
                if event.message.generation_id == generation and app.flow_control.is_active():
                    by_partition.setdefault(event.message.partition, []).append(event)
                else:
                    _leave_uncommitted([event])
            # Fold every partition's run and start its sends, then wait for all the acks at once
            # (one round trip per run of records, not one per partition), then write.
            prepared: list[Prepared] = []
            for partition, run in by_partition.items():
                prepared.extend(await _meter_run(partition, run, generation))
            await asyncio.gather(*(send for p in prepared for send in p.sends))
            if faults.take(METER_RAISES):
                raise InjectedFault(f"{METER_RAISES}: the run's sends are acked, its table writes not done")
            for p in prepared:
                if not _finish(p, generation):
                    _leave_uncommitted(by_partition[p.partition])

    def _leave_uncommitted(events: list[Any]) -> None:
        """Keep these records' offsets out of the next commit, though take_events acks them.

        After a rebalance Faust may not yet know a partition's committed offset, and would then
        commit the first run of acked offsets it holds: acking records that were not metered could
        move the commit past them, unseen by anyone (no progress record yet to reveal the hole).
        A message already marked acked is skipped by the consumer's bookkeeping."""
        metrics.STALE_RECORDS.inc(len(events))
        for event in events:
            event.message.acked = True

    async def _meter_run(partition: int, run: list[Any], generation: int) -> list[Prepared]:
        """Fold one partition's records, in offset order; a hole the consumer left is filled first."""
        anchor = run[-1]
        pending: list[Record] = []
        _current_event.set(weakref.ref(anchor))
        last = core.last_offset(partition)
        for event in run:
            msg = event.message
            if last is not None and msg.offset <= last:
                pending.append(Record(msg.offset, msg.timestamp, msg.key, msg.value))
                continue  # a redelivery: replayed in order with the rest
            if last is not None and msg.offset > last + 1:
                await _settle(_prepare(msg.topic, partition, pending, anchor), generation)
                pending = []
                await _fill_gap(msg.topic, partition, last + 1, msg.offset, anchor, generation)
            pending.append(Record(msg.offset, msg.timestamp, msg.key, msg.value))
            last = msg.offset
        return [await _prepare(run[-1].message.topic, partition, pending, anchor)]

    async def _settle(preparing: Awaitable[Prepared], generation: int) -> None:
        p = await preparing
        await asyncio.gather(*p.sends)
        if not _finish(p, generation):
            metrics.STALE_RECORDS.inc(len(p.records))

    async def _prepare(topic: str, partition: int, records: list[Record], anchor: Any) -> Prepared:
        """Decode, judge and fold ``records`` of one partition as one run; start the dead letters
        and the forwards. Reads the tables, writes nothing."""
        # Faust picks a table's partition from the task's current event: the changelog partition of a
        # write and, with RocksDB, the only partition a read looks in. A run is read and written as
        # one of its own records, so neither touches another partition's state.
        _current_event.set(weakref.ref(anchor))
        result = FoldResult()
        sends: list[Awaitable[Any]] = []
        newest_ms = 0
        now_ms = int(clock() * 1000)
        for rec in records:
            # Broker append time (LogAppendTime topic): the same on every redelivery of this record.
            record_ms = int(rec.timestamp_s * 1000)
            newest_ms = max(newest_ms, record_ms)
            decoded = decode_message(rec.value, rec.key)
            metrics.EVENTS_RECEIVED.inc(len(decoded))
            judged = core.judge(decoded, offset=rec.offset, record_ms=record_ms)
            for rejection in judged.refused:
                metrics.EVENTS_INVALID.labels(rejection.reason).inc()
                sends.append(await send(st.dlq_topic, rec.key, dlq_message(
                    rejection, topic=topic, partition=partition, offset=rec.offset, now_ms=now_ms)))
            if judged.valid:
                metrics.EVENTS_VALID.inc(len(judged.valid))
                core.fold(judged.valid, partition=partition, record_ms=record_ms, into=result)
        # Forward before writing: the sink tolerates repeats, and a crash after this point redelivers
        # the run, whose events are then found folded and forwarded again. One message per tenant.
        by_tenant: dict[str, tuple[list[dict[str, Any]], list[int]]] = {}
        for pos, ev, wkey in result.accepted:
            docs, times = by_tenant.setdefault(ev.subject, ([], []))
            docs.append(accepted_doc(ev, pos, wkey.start_ms, wkey.band))
            times.append(ev.time_ms)
        for tenant, (docs, times) in by_tenant.items():
            sends.append(await send(st.accepted_topic, tenant.encode(), docs_message(docs), [times_header(times)]))
        return Prepared(partition, records, anchor, result, sends, newest_ms)

    def _finish(p: Prepared, generation: int) -> bool:
        """After every send of the run was acknowledged: write each touched key once, count, expire.

        Every send is awaited before any table write: Faust flushes before it commits but ignores
        failed sends, so an unacknowledged dead letter or forward could be lost with its offset
        committed (a failed send raises, and the run is redelivered). If a rebalance began
        meanwhile, nothing is written: the partition may have moved, and its owner meters these
        records again (the forwards are repeats the sink collapses)."""
        if not p.records:
            return True
        if app.consumer_generation_id != generation or not app.flow_control.is_active():
            return False
        _current_event.set(weakref.ref(p.anchor))
        for raw_key, wkeys in core.write(p.result, p.partition).items():  # redeliveries are written too
            marked = dirty.setdefault(raw_key, set())
            if marked is not None:
                marked.update(wkeys)
        for raw_key in p.result.absorbed:
            cost_meter.move(raw_key, group_key(*orjson.loads(raw_key)[:2]))
        _count(p.result)
        swept = core.expire(p.partition, p.newest_ms)
        if swept is not None:
            for raw_key in swept.windows:
                dirty.pop(raw_key, None)
            cost_meter.forget(swept.windows)
            metrics.STATE_EXPIRED.labels("seen").inc(len(swept.seen))
            metrics.STATE_EXPIRED.labels("windows").inc(len(swept.windows))
        _state_gauges()
        core.done(p.partition, p.records[-1].offset)
        return True

    async def _fill_gap(topic: str, partition: int, start: int, end: int, anchor: Any, generation: int) -> None:
        """The consumer skipped [start, end): read those records directly and meter them, in order."""
        log.warning("partition %d: consumer skipped offsets %d..%d; processing them from a side reader",
                    partition, start, end - 1)
        metrics.INPUT_GAPS.inc()
        tp = TopicPartition(topic, partition)
        reader = AIOKafkaConsumer(enable_auto_commit=False, **kafka.client_options())
        await reader.start()
        try:
            reader.assign([tp])
            first = (await reader.beginning_offsets([tp]))[tp]
            if first > start:  # removed by retention before we read them: say so, loudly
                log.error("partition %d: offsets %d..%d were deleted before they were metered",
                          partition, start, first - 1)
                metrics.INPUT_GAP_LOST.inc(first - start)
            reader.seek(tp, max(start, first))
            position, idle = max(start, first), 0
            while position < end and idle < 30:
                fetched = (await reader.getmany(tp, timeout_ms=1000)).get(tp, [])
                idle = 0 if fetched else idle + 1
                records = [Record(r.offset, r.timestamp / 1000, r.key, r.value) for r in fetched if r.offset < end]
                await _settle(_prepare(topic, partition, records, anchor), generation)
                metrics.INPUT_GAP_RECORDS.inc(len(records))
                if records:
                    position = records[-1].offset + 1
                if fetched and fetched[-1].offset >= end:
                    break
            if position < end and idle >= 30:
                raise RuntimeError(f"partition {partition}: cannot read offsets {position}..{end - 1} to fill a "
                                   "hole; stopping rather than metering past them")
        finally:
            await reader.stop()

    def _count(result: FoldResult) -> None:
        metrics.EVENTS_DUPLICATE.inc(len(result.duplicates))
        metrics.EVENTS_REDELIVERED.inc(result.redelivered)
        metrics.EVENTS_COUNTED.inc(len(result.counted))
        metrics.EVENTS_LATE.inc(result.late)
        # Counted per window, not per event. Prices change only at UTC midnight and windows divide
        # a day, so whether a model is priced holds for the whole window.
        unpriced = 0
        groups: dict[tuple[str, str, str], list[int]] = {}
        for wkey, added in result.added.items():
            if not prices.is_priced(wkey.provider, wkey.model, wkey.start_ms, tenant=wkey.tenant):
                unpriced += added.events
            sums = groups.get((wkey.tenant, wkey.provider, wkey.model))
            if sums is None:
                groups[wkey.tenant, wkey.provider, wkey.model] = list(added.tokens)
            else:
                for i, n in enumerate(added.tokens):
                    sums[i] += n
        if unpriced:
            metrics.EVENTS_UNPRICED.inc(unpriced)
        for i, token_class in enumerate(TOKEN_CLASSES):
            n = sum(counts[i] for counts in groups.values())
            if n:
                metrics.TOKENS_COUNTED.labels(token_class).inc(n)
        count_groups(groups, tenant_label, model_label)

    @app.timer(interval=st.flush_interval_seconds)
    async def publish_snapshots() -> None:
        # Snapshots that only re-publish after a recovery seed the cost counters, not count.
        changed = {raw_key: marked for raw_key, marked in dirty.items() if marked is not None}
        if sweep["pending"]:
            sweep["pending"] = False
            dirty.update((k, None) for k in windows if is_window_key(k))
        if not dirty:
            return
        marks = list(dirty.items())
        dirty.clear()
        now_ms = int(clock() * 1000)
        for raw_key, marked in marks:
            raw_value = windows.get(raw_key)
            if raw_value is None:  # partition revoked since the key was marked
                continue
            docs = []
            for key, value in window_values(raw_key, raw_value)[1].items():
                if marked is not None and key not in marked:
                    continue
                # Windows never straddle a price change: changes take effect at UTC midnight, and window
                # sizes divide a day (settings), so the price at the window's start is the price.
                price = prices.window_price(key.provider, key.model, key.start_ms, service_tier=key.service_tier,
                                            band=key.band, tenant=key.tenant)
                rated = rate(value.tokens, value.requests, price)
                docs.append(snapshot_doc(key, value, rated, window_ms, now_ms))
                cost_meter.snapshot(raw_key, key, key.tenant, key.provider, key.model, rated.total,
                                    rated.currency, seed=key not in changed.get(raw_key, ()))
            if docs:  # one message per tenant and window: its models' snapshots together
                await send(st.windows_topic, raw_key, docs_message(docs))
                metrics.SNAPSHOTS_EMITTED.inc(len(docs))

    @app.timer(interval=5.0)
    async def meter_lag() -> None:
        await record_lag(app.consumer, st.meter_app_id, {st.events_topic})

    if db is not None:
        sink = Sink(kafka, st, db, clock=clock, faults=faults)

        @app.task
        async def run_sink() -> None:
            with exit_on_crash("the sink"):
                await sink.run()

        if web and settings.http.api_port:
            @app.task
            async def run_api() -> None:
                from tokenmeter.api.app import serve_api

                await serve_api(settings, db)

        if st.budget_interval_seconds > 0:
            plans, default_plan = load_plans(st.plans, st.default_plan)
            watch = BudgetWatch(kafka, st, db, plans, default_plan, clock=clock)

            @app.task
            async def run_budget_watch() -> None:
                with exit_on_crash("the budget watch"):
                    await watch.run()

    if web:
        @app.page("/metrics")
        async def metrics_page(view: Any, request: Any) -> Any:
            return view.bytes(generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

        @app.page("/v1/totals")
        async def totals_page(view: Any, request: Any) -> Any:
            if db is None:
                return view.json({"error": "this worker runs without the sink; ask the one that has it"},
                                 status=404)
            tenant = request.query.get("tenant")
            sql, params = tenant_totals(tenant)
            rows = await db.aquery(sql, params)
            return view.bytes(orjson.dumps([total_doc(r) for r in rows], default=str),
                              headers={"Content-Type": "application/json"})

        @app.page("/healthz")
        async def health_page(view: Any, request: Any) -> Any:
            # The events-topic partitions this worker meters now (a rebalance moves them).
            owned = sorted(tp.partition for tp in app.consumer.assignment() if tp.topic == st.events_topic)
            return view.json({"status": "ok", "partitions": owned})

    return app


def total_doc(row: tuple[Any, ...]) -> dict[str, Any]:
    names = ("tenant", "provider", "model", "currency", "requests", *TOKEN_CLASSES, *COST_COLUMNS,
             "request_cost", "cost_total", "unpriced", "last_window_end")
    return dict(zip(names, row, strict=True))
