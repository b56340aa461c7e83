-- The sink's entry for window snapshots, as 0009 is for accepted events: the meter's snapshot
-- documents (stream/messages.py snapshot_doc) inserted as JSONEachRow, money as decimal strings
-- (parsed exactly; digits beyond the column's 12 are cut as a Decimal insert cuts them).
-- 0012 turns each block into usage_windows rows.
CREATE TABLE IF NOT EXISTS usage_windows_in
(
    tenant          String,
    window_start_ms Int64,
    window_end_ms   Int64,
    provider        String,
    model           String,
    service_tier    String,
    price_band      UInt8 DEFAULT 0,
    requests        UInt64,
    events          UInt64,
    tokens          Array(UInt64),
    costs           Array(Decimal(38, 12)),
    request_cost    Decimal(38, 12),
    cost_total      Decimal(38, 12),
    currency        String,
    unpriced        Bool,
    version         UInt64,
    emitted_at_ms   Int64
)
ENGINE = Null
