"""Numbered DDL migrations from ``schemas/clickhouse/NNNN_name.sql``, applied once each, in order."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tokenmeter.settings import REPO_ROOT
from tokenmeter.storage.clickhouse import ClickHouse
from tokenmeter.storage.errors import MigrationError, StorageError

MIGRATIONS_DIR = REPO_ROOT / "schemas" / "clickhouse"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version    UInt32,
    name       String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY version
"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration file, ordered by version. Raises ``MigrationError`` on a bad name or a gap."""
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        found.append(Migration(int(match[1]), match[2], path.read_text()))
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"migration {expected:04d} is missing (found {migration.version:04d}_{migration.name})")
    return found


def migrate(db: ClickHouse, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply pending migrations; return the ones applied now. Safe to run concurrently and repeatedly:
    every statement is ``IF NOT EXISTS`` and the ledger is idempotent."""
    db.command(_LEDGER)
    applied = {row[0] for row in db.query("SELECT version FROM schema_migrations FINAL")}
    done: list[Migration] = []
    for migration in load_migrations(directory):
        if migration.version in applied:
            continue
        try:
            db.command(migration.sql)
        except StorageError as exc:
            raise MigrationError(f"migration {migration.version:04d}_{migration.name} failed: {exc}") from exc
        db.insert("schema_migrations", [[migration.version, migration.name]], ["version", "name"])
        done.append(migration)
    return done
