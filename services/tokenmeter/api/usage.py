"""``GET /v1/usage``: a tenant's quantities and money per time bucket, grouped, from ClickHouse.

Every value is a bound query parameter; the only identifiers that reach SQL come
from fixed lists (storage.queries.BUCKETS and GROUPS). Buckets are aligned in
the requested IANA time zone (``tz``, default UTC); money is an exact decimal
string. ``format=csv`` returns the same rows as CSV.

A tenant key reads only its tenant; an admin key reads any (auth.py).
"""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime, and their
# Annotated dependencies refer to local names that a deferred annotation could not resolve.

import csv
import functools
import io
from datetime import UTC, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, available_timezones

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response

from tokenmeter.api.auth import READ_RESPONSES, Access, ApiError
from tokenmeter.storage.clickhouse import ClickHouse
from tokenmeter.storage.queries import GROUPS, usage_series


def usage_router(db: ClickHouse, access: Access) -> APIRouter:
    router = APIRouter()

    @router.get("/v1/usage", responses={**READ_RESPONSES, 200: {
        "description": "rows per bucket and group; with format=csv, the same as CSV",
        "content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}}}})
    async def get_usage(
        tenant: Annotated[str, Depends(access.tenant_in_query)],
        from_: Annotated[datetime, Query(alias="from", description="inclusive, ISO-8601 with offset")],
        to: Annotated[datetime, Query(description="exclusive, ISO-8601 with offset")],
        window: Literal["minute", "hour", "day", "month"] = "day",
        group_by: Annotated[str, Query(description=f"comma-separated, of {', '.join(GROUPS)}")] = "",
        tz: Annotated[str, Query(max_length=64)] = "UTC",
        format: Literal["json", "csv"] = "json",
    ) -> Response:
        problem = _check(from_, to, tz)
        groups = tuple(g for g in group_by.split(",") if g)
        unknown = [g for g in groups if g not in GROUPS]
        if problem is None and unknown:
            problem = ("group_by", f"cannot group by {unknown}; allowed: {list(GROUPS)}")
        if problem is None and len(set(groups)) != len(groups):
            problem = ("group_by", "each group may appear once")
        if problem is not None:
            raise ApiError(400, *problem)
        rows = await db.aquery(*usage_series(tenant, _ms(from_), _ms(to), window, groups, tz))
        zone = ZoneInfo(tz)
        docs = [{"start": datetime.fromtimestamp(r[0] / 1000, zone).isoformat(),
                 **dict(zip(groups, r[1:1 + len(groups)], strict=True)),
                 "tokens": int(r[1 + len(groups)]), "cost": f"{r[2 + len(groups)]:f}", "currency": r[-1]}
                for r in rows]
        if format == "csv":
            return Response(_csv(docs, groups), media_type="text/csv")
        return JSONResponse({"tenant": tenant, "from": from_.isoformat(), "to": to.isoformat(), "window": window,
                             "tz": tz, "group_by": list(groups), "rows": docs})

    return router


def _check(start: datetime, end: datetime, tz: str) -> tuple[str, str] | None:
    if start.tzinfo is None:
        return "from", "must carry a UTC offset, e.g. 2026-11-01T00:00:00Z"
    if end.tzinfo is None:
        return "to", "must carry a UTC offset, e.g. 2026-12-01T00:00:00Z"
    if end <= start:
        return "to", "must be after from"
    for name, moment in (("from", start), ("to", end)):
        if not EARLIEST <= moment <= LATEST:
            return name, f"must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}"
    if tz not in _zones():
        return "tz", f"{tz!r} is not an IANA time zone (e.g. Europe/Berlin)"
    return None


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)  # inside ClickHouse's DateTime64 range whatever the zone


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _ms(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp() * 1000)


def _csv(docs: list[dict[str, object]], groups: tuple[str, ...]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["start", *groups, "tokens", "cost", "currency"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(docs)
    return out.getvalue()
