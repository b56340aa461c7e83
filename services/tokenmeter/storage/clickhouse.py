"""The ClickHouse adapter: one client for the embedded engine (``chdb://``) and servers (``http://``).

clickhouse-connect's client is not safe for concurrent use, and the embedded
engine must be used from the process that owns its path. Synchronous methods
are for single-threaded callers (CLI commands); inside an event loop use the
``a*`` methods, which run every call on one dedicated thread, in order, and
never block the loop. Do not mix the two in one process at the same time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import clickhouse_connect
from clickhouse_connect.driver.exceptions import ClickHouseError

from tokenmeter.faults import CLICKHOUSE_DOWN, NO_FAULTS, Faults
from tokenmeter.settings import ClickHouseSettings
from tokenmeter.storage.errors import StorageError

T = TypeVar("T")

# Explicit insert semantics: servers >= 26.2 default to async inserts, which would
# acknowledge a write before it is durable and break "commit offsets after storing".
INSERT_SETTINGS: Mapping[str, Any] = {"async_insert": 0}


class ClickHouse:
    """A connection to one database. Create with :func:`connect`."""

    def __init__(self, client: Any, database: str, *, faults: Faults = NO_FAULTS) -> None:
        self._client = client
        self.database = database
        self._faults = faults
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None:
        self._call(f"command {sql[:60]!r}", lambda: self._client.command(sql, parameters=parameters))

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        result = self._call(f"query {sql[:60]!r}", lambda: self._client.query(sql, parameters=parameters))
        return [tuple(row) for row in result.result_rows]

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        if not rows:
            return
        self._call(
            f"insert into {table}",
            lambda: self._client.insert(table, rows, column_names=list(columns), settings=dict(INSERT_SETTINGS)),
        )

    def insert_json(self, table: str, data: bytes) -> None:
        """Insert JSONEachRow ``data`` (objects, or one JSON array of them); ClickHouse parses it.
        Fields the table lacks are skipped, so documents may carry more than a table reads."""
        self._call(
            f"insert into {table}",
            lambda: self._client.raw_insert(table, None, data, fmt="JSONEachRow",
                                            settings={**INSERT_SETTINGS, "input_format_skip_unknown_fields": 1}),
        )

    def query_with_names(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and rows of a statement given as text (the ``sql`` CLI command).

        No ``readonly`` setting here: the embedded engine keeps query settings for
        the rest of the session, which would make later writes fail.
        """
        result = self._call(f"query {sql[:60]!r}", lambda: self._client.query(sql))
        return list(result.column_names), [tuple(row) for row in result.result_rows]

    async def aquery(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return await self.arun(lambda: self.query(sql, parameters))

    async def ainsert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        await self.arun(lambda: self.insert(table, rows, columns))

    async def ainsert_json(self, table: str, data: bytes) -> None:
        await self.arun(lambda: self.insert_json(table, data))

    async def arun(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` (which may make several synchronous calls on this adapter) on the adapter's thread."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn)

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        if self._faults.active(CLICKHOUSE_DOWN):
            raise StorageError(f"ClickHouse {what} failed: server unavailable (injected fault {CLICKHOUSE_DOWN})")
        try:
            return fn()
        except ClickHouseError as exc:
            raise StorageError(f"ClickHouse {what} failed: {exc}") from exc
        except OSError as exc:
            raise StorageError(f"ClickHouse {what} failed: connection error: {exc}") from exc

    def close(self) -> None:
        try:
            self._client.close()  # not through _call: an injected outage must not keep the files open
        except (ClickHouseError, OSError) as exc:
            raise StorageError(f"ClickHouse close failed: {exc}") from exc
        finally:
            self._thread.shutdown(wait=True)


def connect(settings: ClickHouseSettings, *, faults: Faults = NO_FAULTS) -> ClickHouse:
    """Open ``settings.url``, create ``settings.database`` if needed, and return an adapter on it.

    Raises ``StorageError`` when the server is unreachable or refuses the credentials.
    """
    options: dict[str, Any] = {}
    if settings.username:
        options["username"] = settings.username
    if settings.password:
        options["password"] = settings.password.get_secret_value()
    if settings.embedded:
        Path(settings.url.removeprefix("chdb://")).mkdir(parents=True, exist_ok=True)
    try:
        admin = clickhouse_connect.get_client(dsn=settings.url, **options)
        # The database name is validated by the settings pattern, so quoting it is safe.
        admin.command(f"CREATE DATABASE IF NOT EXISTS `{settings.database}`")
        if not settings.embedded:
            admin.close()
        client = clickhouse_connect.get_client(dsn=settings.url, database=settings.database, **options)
    except ClickHouseError as exc:
        raise StorageError(f"cannot open ClickHouse at {_redact(settings.url)}: {exc}") from exc
    except OSError as exc:
        raise StorageError(f"cannot reach ClickHouse at {_redact(settings.url)}: {exc}") from exc
    return ClickHouse(client, settings.database, faults=faults)


def _redact(url: str) -> str:
    if "@" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
