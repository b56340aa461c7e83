-- Raw accepted usage events: the source of truth for reconciliation and invoices.
-- One row per unique (tenant, event_id). The meter publishes only the first copy of an id,
-- but the sink may write the same row twice after a crash or retry: ReplacingMergeTree
-- collapses such rows (identical content) and readers use FINAL.
CREATE TABLE IF NOT EXISTS usage_events
(
    tenant              String,
    event_id            String,
    time                DateTime64(3, 'UTC'),
    window_start        DateTime64(3, 'UTC'),
    source              String,
    provider            LowCardinality(String),
    model               LowCardinality(String),
    service_tier        LowCardinality(String),
    batch               Bool,
    api_key_id          Nullable(String),
    project             Nullable(String),
    user                Nullable(String),
    region              LowCardinality(Nullable(String)),
    requests            UInt64,
    input_tokens        UInt64,
    cached_input_tokens UInt64,
    cache_write_tokens  UInt64,
    output_tokens       UInt64,
    reasoning_tokens    UInt64,
    audio_input_tokens  UInt64,
    audio_output_tokens UInt64,
    image_input_tokens  UInt64,
    position            UInt64 COMMENT 'source offset * 2^20 + index in batch',
    stored_at           DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (tenant, event_id)
