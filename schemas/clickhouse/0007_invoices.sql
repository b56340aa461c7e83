-- Issued invoices, one row per line, every issue kept (an audit trail): the invoice of a tenant
-- and period is the issue with the latest issued_at. Amounts are rounded once per line to the
-- currency's minor unit; exact_amount keeps the unrounded figure.
CREATE TABLE IF NOT EXISTS invoice_lines
(
    tenant        String,
    period        String,
    issued_at     DateTime64(3, 'UTC'),
    line_no       UInt32,
    description   String,
    quantity      Decimal(38, 12),
    unit          String,
    unit_price    Decimal(38, 12),
    exact_amount  Decimal(38, 12),
    amount        Decimal(38, 12),
    currency      LowCardinality(String),
    estimate      Bool COMMENT 'a month-to-date estimate, not a final invoice'
)
ENGINE = MergeTree
ORDER BY (tenant, period, issued_at, line_no)
