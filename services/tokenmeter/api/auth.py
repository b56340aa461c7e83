"""Who is calling, what they may do, and how often: the API's checks, as FastAPI dependencies.

- No key, a malformed key, an unknown or a revoked one: **401** with
  ``WWW-Authenticate: Bearer`` (the caller is not known).
- A known key asking for something its role or tenant does not allow: **403**
  (the caller is known and refused). A tenant key asking for another tenant is
  403 whatever else is wrong with the request, so the answer never reveals
  anything about the other tenant.
- Over its rate: **429** with ``Retry-After``. Each key has a token bucket of
  ``rate`` requests per second and a burst of twice that. Buckets live in the
  process: with N API processes a key gets up to N times its rate (named
  assumption; a shared limiter would need a shared store).

The tenant a handler reads is the value these checks returned, never a second
read of the request, so what was checked is what is queried.
"""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime, and their
# Annotated dependencies refer to local names that a deferred annotation could not resolve.

import math
import time
from collections.abc import Callable, Iterable
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from tokenmeter.api.keys import ApiKey, KeyRing

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "no key, or an unknown or revoked one"},
    429: {"description": "the key is over its rate; see Retry-After"},
}
READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "a parameter is invalid; the body names it"},
    **AUTH_RESPONSES,
    403: {"description": "the key may not read this tenant (or is an ingest key)"},
    503: {"description": "ClickHouse is unavailable; see Retry-After"},
}


class ApiError(Exception):
    """An answer with a status and ``{"error": {"field": ..., "reason": ...}}``."""

    def __init__(self, status: int, field: str, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status, self.field, self.reason, self.headers = status, field, reason, headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse(status_code=self.status, headers=self.headers,
                            content={"error": {"field": self.field, "reason": self.reason}})


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens, self.stamp = tokens, stamp


class RateLimiter:
    """Token buckets per key id: ``rate`` per second, bursts of ``2 * rate``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def wait_for(self, key_id: str, rate: float) -> float:
        """0 if the request may go now (and take a token), else the seconds until it may."""
        now, burst = self._clock(), 2 * rate
        bucket = self._buckets.setdefault(key_id, _Bucket(burst, now))
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.stamp) * rate)
        bucket.stamp = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / rate


class Guard:
    """The checks of one API process: its key ring, its limiter and the default rate."""

    def __init__(self, ring: KeyRing, *, default_rate: float, limiter: RateLimiter | None = None) -> None:
        self.ring = ring
        self.default_rate = default_rate
        self.limiter = limiter or RateLimiter()

    def caller(self, request: Request) -> ApiKey:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise ApiError(401, "authorization", "send an API key as 'Authorization: Bearer <key>'",
                           {"WWW-Authenticate": "Bearer"})
        key = self.ring.find(presented.strip())
        if key is None:
            raise ApiError(401, "authorization", "unknown or revoked API key",
                           {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        wait = self.limiter.wait_for(key.id, key.rate_per_second or self.default_rate)
        if wait > 0:
            raise ApiError(429, "authorization", f"key {key.id} is over its rate; retry in {wait:.2f} s",
                           {"Retry-After": str(math.ceil(wait))})
        return key


def may_read(key: ApiKey, tenant: str) -> str:
    """``tenant`` if ``key`` may read it; else 403."""
    if key.role == "ingest":
        raise ApiError(403, "authorization", "an ingest key may only send events")
    if key.role == "tenant" and tenant != key.tenants[0]:
        raise ApiError(403, "tenant", "this key may read only its own tenant")
    return tenant


def may_read_catalog(key: ApiKey) -> ApiKey:
    if key.role == "ingest":
        raise ApiError(403, "authorization", "an ingest key may only send events")
    return key


def may_ingest(key: ApiKey, tenants: Iterable[str]) -> None:
    """403 unless ``key`` may send events for every one of ``tenants``."""
    if key.role == "tenant":
        raise ApiError(403, "authorization", "a tenant key may only read; create an ingest key to send events")
    if key.role == "ingest" and key.tenants:
        refused = sorted(set(tenants) - set(key.tenants))
        if refused:
            shown = ", ".join(repr(t) for t in refused[:5]) + (" ..." if len(refused) > 5 else "")
            raise ApiError(403, "subject", f"this key may not send events for tenant {shown}; nothing was accepted")


class Access:
    """The dependencies handlers declare, bound to one Guard."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard

        def caller(request: Request) -> ApiKey:
            return guard.caller(request)

        Caller = Annotated[ApiKey, Depends(caller)]

        def tenant_in_query(key: Caller, tenant: Annotated[str, Query(min_length=1, max_length=256)]) -> str:
            return may_read(key, tenant)

        def tenant_in_path(key: Caller, tenant: Annotated[str, Path(min_length=1, max_length=256)]) -> str:
            return may_read(key, tenant)

        def catalog_reader(key: Caller) -> ApiKey:
            return may_read_catalog(key)

        self.caller = caller
        self.tenant_in_query = tenant_in_query
        self.tenant_in_path = tenant_in_path
        self.catalog_reader = catalog_reader
