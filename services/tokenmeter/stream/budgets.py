"""Budget watch: every interval, each active tenant's month-to-date bill against its plan's limits.

Runs in the process that owns the sink (it reads ClickHouse). For a limit newly
reached it publishes an alert on ``usage.alerts`` (key tenant|period|level,
acks=all), then records it in ``budget_alerts``; a crash between the two sends
it again, so delivery is at least once and consumers dedupe on the key. The
bill is the same estimate ``tokenmeter invoice --estimate`` prints: windows
stored so far under the plans in force. Limits only alert: a meter cannot
stop a gateway, but a gateway can act on the alert.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from tokenmeter.observability import metrics
from tokenmeter.pricing.billing import BillingError, Period, bill, current_period, month, spans
from tokenmeter.pricing.budgets import Alert, reached
from tokenmeter.pricing.plans import ModelUsage, PlansFile
from tokenmeter.settings import KafkaSettings, StreamSettings
from tokenmeter.storage.clickhouse import ClickHouse
from tokenmeter.storage.errors import StorageError
from tokenmeter.storage.queries import active_tenants, alerts_sent, credits_used_before, period_usage
from tokenmeter.storage.rows import from_ms, model_usage

log = logging.getLogger(__name__)


class BudgetWatch:
    def __init__(self, kafka: KafkaSettings, stream: StreamSettings, db: ClickHouse, plans: PlansFile,
                 default_plan: str | None, *, clock: Callable[[], float] = time.time) -> None:
        self._kafka, self._stream, self._db = kafka, stream, db
        self._plans, self._default = plans, default_plan
        self._clock = clock

    async def run(self) -> None:
        producer = AIOKafkaProducer(acks="all", enable_idempotence=True, **self._kafka.client_options())
        await producer.start()
        try:
            while True:
                try:
                    await self.check(producer)
                except (StorageError, KafkaError) as exc:  # try again next round; nothing was recorded
                    log.warning("budget check failed, retrying in %.0fs: %s",
                                self._stream.budget_interval_seconds, exc)
                await asyncio.sleep(self._stream.budget_interval_seconds)
        finally:
            await producer.stop()

    async def check(self, producer: Any) -> list[Alert]:
        """One round: alert every limit newly reached this month. Returns the alerts sent."""
        now_ms = int(self._clock() * 1000)
        today = datetime.fromtimestamp(now_ms / 1000, UTC).date()
        calendar = month(today.strftime("%Y-%m"))
        # Anniversary periods can start in the previous calendar month: look a month further back.
        since = month((calendar.start - timedelta(days=1)).strftime("%Y-%m"))
        tenants = [r[0] for r in await self._db.aquery(*active_tenants(since.ms(since.start), now_ms + 1))]
        sent = []
        for tenant in tenants:
            period = current_period(self._plans, tenant, today)
            done = {(t, level) for t, level in await self._db.aquery(*alerts_sent(period.name))}
            for alert in await self._reached(tenant, period):
                if (alert.tenant, alert.level) in done:
                    continue
                await producer.send_and_wait(self._stream.alerts_topic, orjson.dumps(alert.doc(now_ms)),
                                             key=alert.key)
                await self._db.ainsert("budget_alerts", [[alert.tenant, alert.period, alert.level, alert.limit,
                                                          alert.spend, alert.currency, from_ms(now_ms)]],
                                       ("tenant", "period", "level", "limit", "spend", "currency", "sent_at"))
                metrics.BUDGET_ALERTS.labels(alert.level).inc()
                log.info("budget: %s reached its %s limit %s %s (spend %s)", tenant, alert.level, alert.limit,
                         alert.currency, alert.spend)
                sent.append(alert)
        return sent

    async def _reached(self, tenant: str, period: Period) -> list[Alert]:
        plan_spans = spans(self._plans, tenant, period, self._default)
        if not plan_spans:
            return []
        usage: dict[tuple[date, date], dict[str, ModelUsage]] = {}
        for s in plan_spans:
            rows = await self._db.aquery(*period_usage(tenant, period.ms(s.start), period.ms(s.end)))
            usage[(s.start, s.end)] = model_usage(rows)[0]
        used = {}
        if self._plans.credits:
            used = {c: u for c, u in await self._db.aquery(*credits_used_before(tenant, period.name))}
        try:
            estimate = bill(tenant, period, plan_spans, lambda a, b: usage[(a, b)], credits=self._plans.credits,
                            used_before=used)
        except BillingError as exc:
            log.warning("budget: cannot estimate %s: %s", tenant, exc)
            return []
        # The limits of the plan in force now (the last span).
        return reached(tenant, period.name, plan_spans[-1].plan, estimate.total)
