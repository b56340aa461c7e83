"""Storage errors. Adapters translate clickhouse-connect exceptions into these."""

from tokenmeter.errors import TokenmeterError


class StorageError(TokenmeterError):
    """ClickHouse refused or failed a statement; the message names the statement's purpose."""


class MigrationError(StorageError):
    """A migration file is malformed or failed to apply."""
