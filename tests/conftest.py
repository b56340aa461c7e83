"""Shared fixtures. Integration tests use a real broker and the real ClickHouse engine.

The broker comes from ``make test`` (deploy/with-kafka.sh starts one) or from
KAFKA_BOOTSTRAP_SERVERS. If none answers, Kafka tests FAIL with the command to
run: they are never skipped silently.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tokenmeter.settings import ClickHouseSettings, KafkaSettings, StreamSettings
from tokenmeter.storage.clickhouse import ClickHouse, connect
from tokenmeter.storage.migrations import migrate


def _broker_up(bootstrap: str) -> bool:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def kafka_settings() -> KafkaSettings:
    settings = KafkaSettings()
    if not _broker_up(settings.bootstrap_servers):
        pytest.fail(
            f"no Kafka broker at {settings.bootstrap_servers}: run the tests with `make test` "
            "(it starts one) or start one with `make kafka-up`, or set KAFKA_BOOTSTRAP_SERVERS",
            pytrace=False,
        )
    return settings


@pytest.fixture
def stream_settings(tmp_path: Path) -> StreamSettings:
    """Fresh topics and consumer groups for each test."""
    return StreamSettings(namespace=f"t{uuid.uuid4().hex[:10]}.", var_dir=tmp_path / "var")


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One embedded engine path per test process (chdb allows one); a database per test.
    return tmp_path_factory.mktemp("clickhouse")


@pytest.fixture
def clickhouse(chdb_path: Path) -> Iterator[ClickHouse]:
    settings = ClickHouseSettings(url=f"chdb://{chdb_path}", database=f"t_{uuid.uuid4().hex[:12]}")
    db = connect(settings)
    migrate(db)
    try:
        yield db
    finally:
        db.command(f"DROP DATABASE IF EXISTS `{settings.database}`")
