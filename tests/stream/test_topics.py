"""Topic creation against the real broker: the tables' changelogs included, described before returning."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from tokenmeter.settings import KafkaSettings, StreamSettings
from tokenmeter.stream.topics import TopicError, changelog_topic, ensure_topics, topic_names

pytestmark = pytest.mark.kafka


async def test_creates_every_topic_with_its_partitions_and_the_compacted_changelogs(
        kafka_settings: KafkaSettings, stream_settings: StreamSettings) -> None:
    created = await ensure_topics(kafka_settings, stream_settings)
    ns = stream_settings.namespace
    assert sorted(created) == sorted(topic_names(stream_settings))
    assert changelog_topic(stream_settings, "windows") == f"{ns}tokenmeter-meter-windows-changelog"
    assert changelog_topic(stream_settings, "seen") in created

    admin = AIOKafkaAdminClient(**kafka_settings.client_options())
    await admin.start()
    try:
        # ensure_topics returned, so one metadata request already shows every partition
        described = {d["topic"]: d for d in await admin.describe_topics(created)}
        assert {t: (d["error_code"], len(d["partitions"])) for t, d in described.items()} == {
            t: (0, kafka_settings.partitions) for t in created}
        wanted = [ConfigResource(ConfigResourceType.TOPIC, t) for t in
                  (changelog_topic(stream_settings, "windows"), stream_settings.events_topic,
                   stream_settings.accepted_topic)]
        configs = {}
        for response in await admin.describe_configs(wanted):
            for _code, _msg, _type, name, entries in response.resources:
                configs[name] = {e[0]: e[1] for e in entries}
    finally:
        await admin.close()
    assert configs[changelog_topic(stream_settings, "windows")]["cleanup.policy"] == "compact"
    assert configs[stream_settings.events_topic]["message.timestamp.type"] == "LogAppendTime"
    assert configs[stream_settings.accepted_topic]["cleanup.policy"] == "delete"

    assert await ensure_topics(kafka_settings, stream_settings) == []  # the second call creates nothing


async def test_a_topic_the_broker_refuses_is_an_error_naming_it(
        kafka_settings: KafkaSettings, stream_settings: StreamSettings) -> None:
    # One broker cannot hold three replicas: the broker refuses per topic, and the admin client
    # returns that refusal instead of raising it.
    three = kafka_settings.model_copy(update={"replication_factor": 3})
    with pytest.raises(TopicError, match=rf"cannot create topic {stream_settings.namespace}\S+ at .*replication"):
        await ensure_topics(three, stream_settings)
