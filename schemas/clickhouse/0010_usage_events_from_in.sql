-- usage_events_in -> usage_events, in the same insert: a failure of either fails the insert,
-- which the sink retries (usage_events collapses repeats by (tenant, event_id)). tokens holds
-- the counts in TOKEN_CLASSES order (events/models.py); stored_at takes its default.
CREATE MATERIALIZED VIEW IF NOT EXISTS usage_events_from_in TO usage_events AS
SELECT
    tenant,
    id AS event_id,
    fromUnixTimestamp64Milli(time_ms, 'UTC') AS time,
    fromUnixTimestamp64Milli(window_start_ms, 'UTC') AS window_start,
    source,
    provider,
    model,
    service_tier,
    price_band,
    batch,
    api_key_id,
    project,
    user,
    region,
    requests,
    tokens[1] AS input_tokens,
    tokens[2] AS cached_input_tokens,
    tokens[3] AS cache_write_tokens,
    tokens[4] AS output_tokens,
    tokens[5] AS reasoning_tokens,
    tokens[6] AS audio_input_tokens,
    tokens[7] AS audio_output_tokens,
    tokens[8] AS image_input_tokens,
    position
FROM usage_events_in
