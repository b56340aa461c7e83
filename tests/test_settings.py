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


def test_kafka_security_is_validated_and_reaches_every_client() -> None:
    import ssl

    import faust
    from pydantic import ValidationError

    from tokenmeter.settings import KafkaSettings

    with pytest.raises(ValidationError, match="SASL needs sasl_mechanism"):
        KafkaSettings(security_protocol="SASL_SSL")
    with pytest.raises(ValidationError, match="SASL needs sasl_username and sasl_password"):
        KafkaSettings(security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512")
    with pytest.raises(ValidationError, match="security_protocol must be one of"):
        KafkaSettings(security_protocol="TLS")
    plain = KafkaSettings()
    assert plain.faust_credentials() is None and "ssl_context" not in plain.client_options()
    sasl = KafkaSettings(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", sasl_username="meter",
                         sasl_password="s3cret")  # noqa: S106 (a test value)
    opts = sasl.client_options()
    assert (opts["sasl_mechanism"], opts["sasl_plain_username"], opts["sasl_plain_password"]) == (
        "SCRAM-SHA-512", "meter", "s3cret")
    assert isinstance(opts["ssl_context"], ssl.SSLContext)
    creds = sasl.faust_credentials()
    assert isinstance(creds, faust.SASLCredentials) and creds.username == "meter" and creds.ssl_context is not None
    assert "s3cret" not in repr(sasl)
