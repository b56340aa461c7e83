"""The ClickHouse sink: accepted events and window snapshots from Kafka into ClickHouse, batched.

Offsets are committed only after the rows they carried are stored, so a crash
or a ClickHouse outage never loses data: the rows are re-read and re-written,
and both tables collapse repeats (ReplacingMergeTree keyed by (tenant, id),
and by window key with the snapshot version). While ClickHouse is down the
sink retries the same batch with capped exponential backoff and reads nothing
new (backpressure); it never drops a batch.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CommitFailedError, KafkaError

from tokenmeter.faults import KILL_AFTER_SINK_INSERT, NO_FAULTS, Faults
from tokenmeter.observability import metrics
from tokenmeter.settings import KafkaSettings, StreamSettings
from tokenmeter.storage.clickhouse import ClickHouse
from tokenmeter.storage.errors import StorageError
from tokenmeter.storage.rows import WINDOW_COLUMNS, window_row

log = logging.getLogger(__name__)

EVENTS_IN: Final = "usage_events_in"  # Null table; its materialized view writes usage_events


# Header of an accepted-events message: its events' times, little-endian int64 epoch ms, in
# document order. The sink counts the events and measures freshness from it without decoding
# the JSON, which ClickHouse parses instead (usage_events_in, migration 0009).
TIMES_HEADER: Final = "tokenmeter-times-ms"


def times_header(times_ms: Sequence[int]) -> tuple[str, bytes]:
    return TIMES_HEADER, struct.pack(f"<{len(times_ms)}q", *times_ms)


@dataclass(slots=True)
class Batch:
    """What was read since the last flush: accepted-event documents as JSON, window rows."""

    event_docs: list[bytes] = field(default_factory=list)  # documents, comma-separated within each
    event_times_ms: list[int] = field(default_factory=list)  # one per accepted event
    windows: list[list[Any]] = field(default_factory=list)
    started: float = 0.0

    @property
    def events(self) -> int:
        return len(self.event_times_ms)

    def events_json(self) -> bytes:
        """Every accepted document read, as one JSON array."""
        return b"[" + b",".join(self.event_docs) + b"]"

    def __len__(self) -> int:
        return self.events + len(self.windows)


def add_message(batch: Batch, topic: str, value: bytes, *, accepted_topic: str,
                headers: Sequence[tuple[str, bytes]] = ()) -> None:
    """Add one message. A message holds one document or a JSON array of them.

    An accepted-events message stays JSON: its documents go to ClickHouse as they are. Its
    events' times come from the times header; a message without one (published before it
    existed) is decoded for them."""
    if topic != accepted_topic:
        batch.windows.extend(window_row(doc) for doc in load_list(value))
        return
    packed = next((v for k, v in headers if k == TIMES_HEADER), None)
    if packed is not None:
        times = struct.unpack(f"<{len(packed) // 8}q", packed)
    else:
        times = tuple(doc["time_ms"] for doc in load_list(value))
    if not times:
        return
    body = value.strip()
    batch.event_docs.append(body[1:-1] if body[:1] == b"[" else body)
    batch.event_times_ms.extend(times)


def load_list(value: bytes) -> list[dict[str, Any]]:
    docs = orjson.loads(value)
    return docs if isinstance(docs, list) else [docs]


class Sink:
    def __init__(
        self,
        kafka: KafkaSettings,
        stream: StreamSettings,
        db: ClickHouse,
        *,
        clock: Callable[[], float] = time.time,
        faults: Faults = NO_FAULTS,
    ) -> None:
        self._kafka = kafka
        self._stream = stream
        self._db = db
        self._clock = clock
        self._faults = faults

    async def run(self) -> None:
        """Consume until cancelled. Rows read but not yet committed when the task is
        cancelled are read again by the next run and collapsed by the tables."""
        consumer = AIOKafkaConsumer(
            self._stream.accepted_topic,
            self._stream.windows_topic,
            group_id=self._stream.sink_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._stream.sink_batch_rows,
            **self._kafka.client_options(),
        )
        await consumer.start()
        try:
            await self._loop(consumer)
        finally:
            await consumer.stop()

    async def _loop(self, consumer: AIOKafkaConsumer) -> None:
        batch = Batch(started=time.monotonic())
        next_lag = 0.0
        while True:
            records = await consumer.getmany(timeout_ms=int(self._stream.sink_batch_seconds * 1000 / 2))
            for tp_records in records.values():
                for record in tp_records:
                    add_message(batch, record.topic, record.value, accepted_topic=self._stream.accepted_topic,
                                headers=record.headers)
            due = time.monotonic() - batch.started >= self._stream.sink_batch_seconds
            if len(batch) and (due or len(batch) >= self._stream.sink_batch_rows):
                await self._flush(batch)
                self._faults.kill_self_if(KILL_AFTER_SINK_INSERT)
                await self._commit(consumer)
                batch = Batch(started=time.monotonic())
            elif due:
                batch.started = time.monotonic()
            if time.monotonic() >= next_lag:
                await record_lag(consumer, self._stream.sink_group)
                next_lag = time.monotonic() + 5.0

    async def _flush(self, batch: Batch) -> None:
        if batch.events:
            data = batch.events_json()
            await self._write_with_retry("usage_events", batch.events, lambda: self._db.ainsert_json(EVENTS_IN, data))
        if batch.windows:
            await self._write_with_retry("usage_windows", len(batch.windows),
                                         lambda: self._db.ainsert("usage_windows", batch.windows, WINDOW_COLUMNS))
        now_ms = int(self._clock() * 1000)
        for t in batch.event_times_ms:
            metrics.FRESHNESS_SECONDS.observe(max(0.0, (now_ms - t) / 1000))

    async def _write_with_retry(self, table: str, rows: int, insert: Callable[[], Awaitable[None]]) -> None:
        """Store ``rows`` rows in ``table`` with ``insert``; both tables are idempotent to re-insert,
        so retrying is safe. Never gives up."""
        delay, attempt = 0.2, 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                await insert()
            except StorageError as exc:
                metrics.SINK_FAILURES.inc()
                log.warning("sink: insert of %d rows into %s failed (attempt %d, retrying in %.1fs): %s",
                            rows, table, attempt, delay, exc)
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, self._stream.sink_retry_max_seconds)
                continue
            metrics.SINK_FLUSH_SECONDS.labels(table).observe(time.monotonic() - started)
            metrics.SINK_ROWS.labels(table).inc(rows)
            return

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        try:
            await consumer.commit()
        except (CommitFailedError, KafkaError) as exc:
            # The group rebalanced while we wrote: the new owner re-reads these rows and
            # re-writes them, which the tables collapse. Nothing is lost.
            log.warning("sink: offset commit failed, rows will be re-read: %s", exc)


async def record_lag(consumer: Any, group: str, topics: set[str] | None = None) -> None:
    """Set the lag gauge for every assigned partition (of ``topics``) of an aiokafka-like consumer."""
    for tp in consumer.assignment():
        if topics is not None and tp.topic not in topics:
            continue
        try:
            highwater = consumer.highwater(tp)
            pos = await consumer.position(tp)
        except (KafkaError, AssertionError, TypeError):  # partition revoked meanwhile
            continue
        if highwater is not None and pos is not None:
            metrics.CONSUMER_LAG.labels(group, tp.topic, str(tp.partition)).set(max(0, highwater - pos))
