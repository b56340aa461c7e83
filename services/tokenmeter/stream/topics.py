"""Create tokenmeter's Kafka topics if they are missing (the broker does not auto-create them)."""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from tokenmeter.errors import TokenmeterError
from tokenmeter.settings import KafkaSettings, StreamSettings

log = logging.getLogger(__name__)


class TopicError(TokenmeterError):
    """A topic could not be created or described."""


TABLES = ("seen", "windows")  # the meter's Faust tables (stream/app.py)


def changelog_topic(stream: StreamSettings, table: str) -> str:
    """The name Faust gives a table's changelog: ``{app id}-{table}-changelog``."""
    return f"{stream.meter_app_id}-{table}-changelog"


def topic_names(stream: StreamSettings) -> list[str]:
    return [stream.events_topic, stream.accepted_topic, stream.windows_topic, stream.dlq_topic, stream.alerts_topic,
            *(changelog_topic(stream, t) for t in TABLES)]


def topic_configs(stream: StreamSettings, name: str) -> dict[str, str]:
    """The events topic stamps records with the broker's clock: the meter's lateness and
    skew checks compare event times with it, so producers' clocks cannot move the verdict.
    Changelogs are compacted, as Faust would create them: only a key's last value counts."""
    if name == stream.events_topic:
        return {"message.timestamp.type": "LogAppendTime"}
    if name in {changelog_topic(stream, t) for t in TABLES}:
        return {"cleanup.policy": "compact"}
    return {}


async def ensure_topics(kafka: KafkaSettings, stream: StreamSettings) -> list[str]:
    """Create missing topics with ``kafka.partitions`` partitions; return the ones created.

    Existing topics are left as they are (their partition count is not changed:
    that would move tenants between partitions). An events topic created by
    someone else keeps its timestamp type; with CreateTime the producers'
    clocks decide lateness (still the same verdict on every redelivery).

    The tables' changelogs are created here too, and the call returns only once
    the broker's metadata lists every created topic with all its partitions.
    Left to Faust, a changelog is created while the worker starts, and the
    consumer's first metadata can still show it with no partitions: the first
    table write then fails Faust's partition check (PartitionsMismatch, seen
    in CI on a fresh namespace).
    """
    admin = AIOKafkaAdminClient(**kafka.client_options())
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [t for t in topic_names(stream) if t not in existing]
        if missing:
            response = await admin.create_topics([
                NewTopic(name=t, num_partitions=kafka.partitions, replication_factor=kafka.replication_factor,
                         topic_configs=topic_configs(stream, t)) for t in missing
            ])
            # The broker answers per topic; the admin client does not raise for these codes.
            for name, code, *message in response.topic_errors:
                if code == TopicAlreadyExistsError.errno:
                    log.info("topic %s was created concurrently by another process", name)
                elif code:
                    detail = message[0] if message and message[0] else for_code(code).__name__
                    raise TopicError(f"cannot create topic {name} at {kafka.bootstrap_servers}: {detail}")
            await _until_described(admin, missing, kafka.partitions, timeout_s=30.0)
        return missing
    except KafkaError as exc:
        raise TopicError(f"cannot create topics at {kafka.bootstrap_servers}: {exc}") from exc
    finally:
        await admin.close()


async def _until_described(admin: AIOKafkaAdminClient, topics: list[str], partitions: int, *, timeout_s: float) -> None:
    """Wait until the broker describes each topic without error and with ``partitions`` partitions."""
    deadline = time.monotonic() + timeout_s
    pending = list(topics)
    while pending:
        described = await admin.describe_topics(pending)
        pending = [d["topic"] for d in described
                   if d["error_code"] != 0 or len(d["partitions"]) != partitions]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise TopicError(f"topics created but not yet described with {partitions} partitions "
                             f"after {timeout_s:.0f}s: {', '.join(sorted(pending))}")
        await asyncio.sleep(0.2)
