"""Create tokenmeter's Kafka topics if they are missing (the broker does not auto-create them)."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from tokenmeter.errors import TokenmeterError
from tokenmeter.settings import KafkaSettings, StreamSettings

log = logging.getLogger(__name__)


class TopicError(TokenmeterError):
    """A topic could not be created or described."""


def topic_names(stream: StreamSettings) -> list[str]:
    return [stream.events_topic, stream.accepted_topic, stream.windows_topic, stream.dlq_topic, stream.alerts_topic]


def topic_configs(stream: StreamSettings, name: str) -> dict[str, str]:
    """The events topic stamps records with the broker's clock: the meter's lateness and
    skew checks compare event times with it, so producers' clocks cannot move the verdict."""
    if name == stream.events_topic:
        return {"message.timestamp.type": "LogAppendTime"}
    return {}


async def ensure_topics(kafka: KafkaSettings, stream: StreamSettings) -> list[str]:
    """Create missing topics with ``kafka.partitions`` partitions; return the ones created.

    Existing topics are left as they are (their partition count is not changed:
    that would move tenants between partitions). An events topic created by
    someone else keeps its timestamp type; with CreateTime the producers'
    clocks decide lateness (still the same verdict on every redelivery).
    """
    admin = AIOKafkaAdminClient(**kafka.client_options())
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [t for t in topic_names(stream) if t not in existing]
        if missing:
            try:
                await admin.create_topics([
                    NewTopic(name=t, num_partitions=kafka.partitions, replication_factor=kafka.replication_factor,
                             topic_configs=topic_configs(stream, t)) for t in missing
                ])
            except TopicAlreadyExistsError:
                log.info("topics created concurrently by another process")
        return missing
    except KafkaError as exc:
        raise TopicError(f"cannot create topics at {kafka.bootstrap_servers}: {exc}") from exc
    finally:
        await admin.close()
