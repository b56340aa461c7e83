"""HTTP API: ingest of usage events (and, later, queries)."""
