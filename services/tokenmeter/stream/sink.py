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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CommitFailedError, KafkaError

from tokenmeter.faults import KILL_AFTER_SINK_INSERT, NO_FAULTS, Faults
from tokenmeter.observability import metrics
from tokenmeter.settings import KafkaSettings, StreamSettings
from tokenmeter.storage.clickhouse import ClickHouse
from tokenmeter.storage.errors import StorageError
from tokenmeter.storage.rows import EVENT_COLUMNS, WINDOW_COLUMNS, event_row, window_row

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Batch:
    """Rows read since the last flush."""

    events: list[list[Any]] = field(default_factory=list)
    event_times_ms: list[int] = field(default_factory=list)
    windows: list[list[Any]] = field(default_factory=list)
    started: float = 0.0

    def __len__(self) -> int:
        return len(self.events) + len(self.windows)


def add_message(batch: Batch, topic: str, value: bytes, *, accepted_topic: str) -> None:
    """Convert one message into rows. A message holds one document or a JSON array of them."""
    if topic == accepted_topic:
        for doc in load_list(value):
            batch.events.append(event_row(doc))
            batch.event_times_ms.append(doc["time_ms"])
    else:
        batch.windows.extend(window_row(doc) for doc in load_list(value))


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
                    add_message(batch, record.topic, record.value, accepted_topic=self._stream.accepted_topic)
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
        await self._write_with_retry("usage_events", batch.events, EVENT_COLUMNS)
        await self._write_with_retry("usage_windows", batch.windows, WINDOW_COLUMNS)
        now_ms = int(self._clock() * 1000)
        for t in batch.event_times_ms:
            metrics.FRESHNESS_SECONDS.observe(max(0.0, (now_ms - t) / 1000))

    async def _write_with_retry(self, table: str, rows: list[list[Any]], columns: tuple[str, ...]) -> None:
        """Insert ``rows``; both tables are idempotent to re-insert, so retrying is safe. Never gives up."""
        if not rows:
            return
        delay, attempt = 0.2, 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                await self._db.ainsert(table, rows, columns)
            except StorageError as exc:
                metrics.SINK_FAILURES.inc()
                log.warning("sink: insert of %d rows into %s failed (attempt %d, retrying in %.1fs): %s",
                            len(rows), table, attempt, delay, exc)
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, self._stream.sink_retry_max_seconds)
                continue
            metrics.SINK_FLUSH_SECONDS.labels(table).observe(time.monotonic() - started)
            metrics.SINK_ROWS.labels(table).inc(len(rows))
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
