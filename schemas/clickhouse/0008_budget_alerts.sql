-- Budget alerts sent, so each (tenant, period, level) is alerted once. Written after the alert
-- was acknowledged by Kafka: a crash in between re-sends it (consumers dedupe on the message key).
CREATE TABLE IF NOT EXISTS budget_alerts
(
    tenant    String,
    period    String,
    level     LowCardinality(String),
    limit     Decimal(38, 12),
    spend     Decimal(38, 12),
    currency  LowCardinality(String),
    sent_at   DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(sent_at)
ORDER BY (tenant, period, level)
