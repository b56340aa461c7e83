-- The price band each event was rated in (see 0004), so windows can be recomputed from events.
ALTER TABLE usage_events ADD COLUMN IF NOT EXISTS price_band UInt8 DEFAULT 0 AFTER service_tier
