"""How the meter is wired into Faust (no broker needed to build it)."""

from __future__ import annotations

from pathlib import Path

from tokenmeter.pricing.catalog import builtin_price_book
from tokenmeter.settings import Settings, StreamSettings
from tokenmeter.stream.app import build_app
from tokenmeter.stream.topics import TABLES, changelog_topic


def test_the_topics_created_up_front_are_the_tables_changelogs(tmp_path: Path) -> None:
    # topics.py names the changelogs before Faust exists; a renamed table must not drift from it.
    stream = StreamSettings(var_dir=tmp_path)
    app = build_app(Settings(stream=stream), db=None, prices=builtin_price_book(), web=False)
    assert sorted(app.tables) == sorted(TABLES)
    assert {t.changelog_topic.get_topic_name() for t in app.tables.values()} == {
        changelog_topic(stream, name) for name in TABLES}


def test_tables_write_and_recover_raw_bytes(tmp_path: Path) -> None:
    # A JSON serializer would recover window values as lists and crash the meter after a restart.
    app = build_app(Settings(stream=StreamSettings(var_dir=tmp_path)), db=None, prices=builtin_price_book(),
                    web=False)
    for name in ("seen", "windows"):
        table = app.tables[name]
        assert (table.key_serializer, table.value_serializer) == ("raw", "raw")
        assert table.changelog_topic.key_serializer in (None, "raw")


async def test_the_meter_consumer_waits_at_most_100_ms_per_fetch(tmp_path: Path) -> None:
    # Faust's own driver asks the broker to hold fetches up to 1.5 s (see stream/transport.py).
    app = build_app(Settings(stream=StreamSettings(var_dir=tmp_path)), db=None, prices=builtin_price_book(),
                    web=False)
    thread = app.consumer._thread  # made with the consumer
    kafka_consumer = thread._create_worker_consumer(app.transport)
    try:
        assert kafka_consumer._fetch_max_wait_ms == 100
        assert kafka_consumer._group_id == app.conf.id  # everything else is still Faust's
    finally:
        await kafka_consumer.stop()
        thread.thread_loop.close()
