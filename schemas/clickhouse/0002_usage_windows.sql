-- Rated window totals: one row per (tenant, window, provider, model, service tier) and version.
-- Snapshots are cumulative; version is the highest source position folded in, so it only grows
-- and a replayed snapshot is identical to the original. Read with FINAL to get the latest.
-- Money is exact: Decimal(38, 12), never rounded here (rounding happens on invoice lines).
CREATE TABLE IF NOT EXISTS usage_windows
(
    tenant              String,
    window_start        DateTime64(3, 'UTC'),
    window_end          DateTime64(3, 'UTC'),
    provider            LowCardinality(String),
    model               LowCardinality(String),
    service_tier        LowCardinality(String),
    requests            UInt64,
    events              UInt64,
    input_tokens        UInt64,
    cached_input_tokens UInt64,
    cache_write_tokens  UInt64,
    output_tokens       UInt64,
    reasoning_tokens    UInt64,
    audio_input_tokens  UInt64,
    audio_output_tokens UInt64,
    image_input_tokens  UInt64,
    input_cost          Decimal(38, 12),
    cached_input_cost   Decimal(38, 12),
    cache_write_cost    Decimal(38, 12),
    output_cost         Decimal(38, 12),
    reasoning_cost      Decimal(38, 12),
    audio_input_cost    Decimal(38, 12),
    audio_output_cost   Decimal(38, 12),
    image_input_cost    Decimal(38, 12),
    request_cost        Decimal(38, 12),
    cost_total          Decimal(38, 12),
    currency            LowCardinality(String),
    unpriced            Bool COMMENT 'some usage in this window had no list price',
    version             UInt64,
    emitted_at          DateTime64(3, 'UTC'),
    stored_at           DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (tenant, window_start, provider, model, service_tier)
