"""Settings, one class per concern, read from the environment once at a composition root.

Nothing below a composition root (the CLI commands) reads ``os.environ``: they
receive these frozen objects. Environment names are the contract:

- ``KAFKA_BOOTSTRAP_SERVERS`` and ``KAFKA_*`` for the broker,
- ``CLICKHOUSE_URL`` and ``CLICKHOUSE_*`` for storage,
- ``TOKENMETER_*`` for the stream, HTTP and runtime folders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tokenmeter.observability.bounded import BoundedLabel

# services/tokenmeter/settings.py -> repository root, where `var/` holds runtime data.
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VAR = REPO_ROOT / "var"


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAFKA_", frozen=True, extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    partitions: int = Field(default=8, ge=1, le=1024, description="partitions of tokenmeter topics it creates")
    replication_factor: int = Field(default=1, ge=1, le=16)
    ssl_cafile: Path | None = Field(default=None, description="CA bundle for SSL / SASL_SSL (default: system CAs)")
    ssl_certfile: Path | None = Field(default=None, description="client certificate for mutual TLS")
    ssl_keyfile: Path | None = Field(default=None, description="client key for mutual TLS")

    @model_validator(mode="after")
    def _security_is_complete(self) -> KafkaSettings:
        protocols = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
        if self.security_protocol not in protocols:
            raise ValueError(f"security_protocol must be one of {', '.join(protocols)}")
        if self.security_protocol.startswith("SASL_"):
            if self.sasl_mechanism not in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
                raise ValueError("SASL needs sasl_mechanism PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
            if not self.sasl_username or self.sasl_password is None:
                raise ValueError("SASL needs sasl_username and sasl_password")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile go together")
        return self

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> Any:
        """An ``ssl.SSLContext`` for SSL / SASL_SSL (server verified against ssl_cafile or the system CAs)."""
        from aiokafka.helpers import create_ssl_context

        return create_ssl_context(cafile=str(self.ssl_cafile) if self.ssl_cafile else None,
                                  certfile=str(self.ssl_certfile) if self.ssl_certfile else None,
                                  keyfile=str(self.ssl_keyfile) if self.ssl_keyfile else None)

    def client_options(self) -> dict[str, object]:
        """Keyword arguments shared by every aiokafka client."""
        opts: dict[str, object] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol.startswith("SASL_"):
            opts["sasl_mechanism"] = self.sasl_mechanism
            opts["sasl_plain_username"] = self.sasl_username
            opts["sasl_plain_password"] = self.sasl_password.get_secret_value() if self.sasl_password else None
        if self.uses_tls:
            opts["ssl_context"] = self.ssl_context()
        return opts

    def faust_credentials(self) -> Any:
        """The same security for Faust's own clients (``broker_credentials``), or None for PLAINTEXT."""
        import faust

        context = self.ssl_context() if self.uses_tls else None
        if self.security_protocol.startswith("SASL_"):
            return faust.SASLCredentials(username=self.sasl_username, password=self.sasl_password.get_secret_value()
                                         if self.sasl_password else None, mechanism=self.sasl_mechanism,
                                         ssl_context=context)
        return faust.SSLCredentials(context) if context is not None else None


class ClickHouseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLICKHOUSE_", frozen=True, extra="ignore")

    url: str = f"chdb://{DEFAULT_VAR / 'clickhouse'}"
    database: str = Field(default="tokenmeter", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    username: str | None = None
    password: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("chdb://", "http://", "https://")):
            raise ValueError("CLICKHOUSE_URL must start with chdb://, http:// or https://")
        return value

    @property
    def embedded(self) -> bool:
        return self.url.startswith("chdb://")


class StreamSettings(BaseSettings):
    """The meter and its sink. ``namespace`` prefixes every topic and group (tests use it)."""

    model_config = SettingsConfigDict(env_prefix="TOKENMETER_", frozen=True, extra="ignore")

    namespace: str = Field(default="", pattern=r"^[A-Za-z0-9._-]{0,64}$")
    app_id: str = "tokenmeter-meter"
    window_seconds: int = Field(default=60, ge=1, le=86_400)
    flush_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    meter_batch_records: int = Field(default=2_000, ge=1, le=100_000,
                                     description="records the meter folds and writes as one run, at most")
    meter_batch_seconds: float = Field(default=0.25, gt=0, le=5,
                                       description="how long the meter waits to fill a run (adds to freshness)")
    sink_batch_rows: int = Field(default=20_000, ge=1, le=1_000_000)
    sink_batch_seconds: float = Field(default=0.5, gt=0, le=60)
    sink_retry_max_seconds: float = Field(default=30.0, gt=0)
    var_dir: Path = DEFAULT_VAR
    # Time policy (stream/README.md). Every decision compares an event's time with its Kafka
    # record timestamp, never the wall clock, so a replayed record is judged as it was the first time.
    lateness_horizon_seconds: int = Field(default=7 * 86_400, ge=60, description="older events: DLQ too_late")
    future_skew_seconds: int = Field(default=300, ge=0, description="newer events: DLQ future_timestamp")
    dedupe_horizon_seconds: int = Field(default=7 * 86_400, ge=60, description="how long (tenant, id) is kept")
    expiry_grace_seconds: int = Field(default=3_600, ge=0,
                                      description="extra life of state past its horizon (covers redelivery)")
    expiry_interval_seconds: int = Field(default=60, ge=1, description="how often a partition's state is swept")
    store: str = Field(default="memory://", pattern=r"^(memory|rocksdb)://.*$",
                       description="Faust table store: memory:// (recovers from changelog) or rocksdb://")
    session_timeout_seconds: float = Field(default=10.0, ge=6, le=300,
                                           description="how soon a dead worker's partitions move")
    faults_dir: Path | None = Field(default=None, description="fault-injection switches (chaos suite only)")
    price_book: Path | None = Field(default=None, description="YAML/JSON price book; default: the built-in one")
    plans: Path | None = Field(default=None, description="YAML/JSON plans file; default: list price for everyone")
    default_plan: str | None = Field(default=None, description="plan id for days a tenant has no assignment")

    @field_validator("window_seconds")
    @classmethod
    def _divides_a_day(cls, value: int) -> int:
        # Prices change at UTC midnight; a window that divides the day never straddles a change.
        if 86_400 % value:
            raise ValueError("TOKENMETER_WINDOW_SECONDS must divide 86400 (a day) so windows align with days")
        return value

    @model_validator(mode="after")
    def _dedupe_outlives_lateness(self) -> StreamSettings:
        # An id forgotten by dedupe must be too late to count, or a late resend would count twice.
        if self.dedupe_horizon_seconds < self.lateness_horizon_seconds:
            raise ValueError("TOKENMETER_DEDUPE_HORIZON_SECONDS must be >= TOKENMETER_LATENESS_HORIZON_SECONDS")
        return self

    budget_interval_seconds: float = Field(default=60.0, ge=0, description="budget checks (0: off)")
    metrics_tenant_limit: int = Field(default=50, ge=0, le=10_000, description="tenants with their own metric "
                                      "series (the first seen); the rest are reported as 'other'")
    metrics_tenants: str = Field(default="", description="comma-separated tenants with their own series "
                                 "(replaces the first-seen rule when set)")
    metrics_model_limit: int = Field(default=100, ge=0, le=10_000, description="models with their own series")

    def tenant_label(self) -> BoundedLabel:
        allow = frozenset(t.strip() for t in self.metrics_tenants.split(",") if t.strip())
        return BoundedLabel(self.metrics_tenant_limit, allow or None)

    def topic(self, name: str) -> str:
        return f"{self.namespace}{name}"

    @property
    def events_topic(self) -> str:
        return self.topic("usage.events")

    @property
    def accepted_topic(self) -> str:
        return self.topic("usage.accepted")

    @property
    def windows_topic(self) -> str:
        return self.topic("usage.windows")

    @property
    def dlq_topic(self) -> str:
        return self.topic("usage.events.dlq")

    @property
    def alerts_topic(self) -> str:
        return self.topic("usage.alerts")

    @property
    def meter_app_id(self) -> str:
        return f"{self.namespace}{self.app_id}"

    @property
    def sink_group(self) -> str:
        return f"{self.namespace}tokenmeter-sink"


class HttpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOKENMETER_HTTP_", frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=6066, ge=0, le=65535, description="worker pages: /metrics, /v1/totals, /healthz")
    api_port: int = Field(default=8080, ge=0, le=65535, description="the HTTP API (ingest, usage); 0: off")
    api_keys_file: Path | None = Field(default=None, description="hashed API keys, written by `tokenmeter keys`, "
                                       "re-read when it changes; default: $TOKENMETER_VAR_DIR/api-keys.json")
    api_ack_timeout_seconds: float = Field(default=30.0, gt=0, le=600,
                                           description="POST /v1/events waits this long for Kafka's ack, then 503")
    api_rate_per_second: float = Field(default=100.0, gt=0, le=1_000_000,
                                       description="requests per second per key (burst: twice that) unless the "
                                                   "key sets its own")


class Settings(BaseSettings):
    """The root: every concern, loaded together so one check reports every problem."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    clickhouse: ClickHouseSettings = Field(default_factory=ClickHouseSettings)
    stream: StreamSettings = Field(default_factory=StreamSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)

    @property
    def api_keys_file(self) -> Path:
        return self.http.api_keys_file or self.stream.var_dir / "api-keys.json"


def load_settings() -> Settings:
    """Read all settings from the environment.

    Raises ``ConfigError`` naming every invalid variable at once.
    """
    from pydantic import ValidationError

    from tokenmeter.errors import ConfigError

    problems: list[str] = []
    parts: dict[str, BaseSettings] = {}
    for name, cls in (
        ("kafka", KafkaSettings),
        ("clickhouse", ClickHouseSettings),
        ("stream", StreamSettings),
        ("http", HttpSettings),
    ):
        try:
            parts[name] = cls()
        except ValidationError as exc:
            prefix = cls.model_config.get("env_prefix", "")
            for err in exc.errors():
                field = ".".join(str(p) for p in err["loc"])
                problems.append(f"{prefix}{field.upper()}: {err['msg']}")
    if problems:
        raise ConfigError("invalid settings:\n  " + "\n  ".join(problems))
    return Settings(**parts)  # type: ignore[arg-type]
