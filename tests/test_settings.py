from __future__ import annotations

import pytest

from tokenmeter.errors import ConfigError
from tokenmeter.settings import REPO_ROOT, load_settings


def test_defaults_are_the_embedded_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "CLICKHOUSE_URL", "TOKENMETER_NAMESPACE", "TOKENMETER_HTTP_PORT"):
        monkeypatch.delenv(name, raising=False)
    s = load_settings()
    assert s.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert s.clickhouse.url == f"chdb://{REPO_ROOT / 'var' / 'clickhouse'}"
    assert s.clickhouse.embedded
    assert s.stream.window_seconds == 60
    assert s.stream.events_topic == "usage.events"
    assert s.stream.dlq_topic == "usage.events.dlq"


def test_every_problem_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKHOUSE_URL", "mysql://x")
    monkeypatch.setenv("TOKENMETER_WINDOW_SECONDS", "0")
    monkeypatch.setenv("TOKENMETER_HTTP_PORT", "99999")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "CLICKHOUSE_URL" in message
    assert "TOKENMETER_WINDOW_SECONDS" in message
    assert "TOKENMETER_HTTP_PORT" in message


def test_server_url_selects_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKHOUSE_URL", "http://127.0.0.1:8123")
    assert not load_settings().clickhouse.embedded


def test_windows_must_divide_a_day_so_they_never_straddle_a_price_change() -> None:
    from pydantic import ValidationError

    from tokenmeter.settings import StreamSettings

    assert StreamSettings(window_seconds=3600).window_seconds == 3600
    with pytest.raises(ValidationError, match="must divide 86400"):
        StreamSettings(window_seconds=7)
