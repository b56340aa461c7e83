-- Context-cliff price band: 0 = base prices; k = the request's input side was above the k-th
-- cliff of its price period, so the whole request is billed at that cliff's rates. Part of the
-- window key (rows of different bands are different windows), so it joins the sorting key;
-- ClickHouse allows that only for a column added in the same statement and without a DEFAULT
-- expression; a UInt8 column is 0 when absent, so existing rows are band 0.
ALTER TABLE usage_windows
    ADD COLUMN IF NOT EXISTS price_band UInt8 AFTER service_tier,
    MODIFY ORDER BY (tenant, window_start, provider, model, service_tier, price_band)
