"""ClickHouse storage: schema migrations, row conversion, batched writes, parameterised queries."""
