-- The sink's entry for accepted events: the meter's accepted-event documents
-- (stream/messages.py accepted_doc) exactly as published, inserted as JSONEachRow. A Null
-- table stores nothing; the materialized view of 0010 turns each inserted block into
-- usage_events rows. ClickHouse parses the JSON, so the sink never decodes these documents
-- in Python (that and building Native columns row by row were a tenth of the worker's CPU).
-- A column added to usage_events later needs its source here and in 0010. A field missing from
-- a document would take its column's default (ClickHouse has no setting to refuse it): the
-- documents come only from the meter, and tests/storage/test_clickhouse.py pins accepted_doc
-- and these tables together, column by column.
CREATE TABLE IF NOT EXISTS usage_events_in
(
    tenant          String,
    id              String,
    time_ms         Int64,
    window_start_ms Int64,
    source          String,
    provider        String,
    model           String,
    service_tier    String,
    price_band      UInt8 DEFAULT 0,
    batch           Bool,
    api_key_id      Nullable(String),
    project         Nullable(String),
    user            Nullable(String),
    region          Nullable(String),
    requests        UInt64,
    tokens          Array(UInt64),
    position        UInt64
)
ENGINE = Null
