"""API keys: created once, stored hashed in a JSON file, revocable, each with a role and a rate.

A key reads ``tmk_<id>_<secret>``: ``id`` (12 hex digits) finds the record,
``secret`` (32 random bytes, URL-safe base64) proves possession. The file keeps
only SHA-256 of the secret. A slow password hash (bcrypt, argon2) protects
guessable passwords; a 256-bit random secret cannot be guessed, so a fast hash
loses nothing and keeps every request cheap. The full key is printed once, at
creation, and cannot be recovered.

Roles:

- ``ingest``: may only ``POST /v1/events``; with tenants listed, only for those.
- ``tenant``: may only read its one tenant.
- ``admin``: may read every tenant, the price book, and ingest.

The file (``TOKENMETER_HTTP_API_KEYS_FILE``, default ``var/api-keys.json``) is
the whole store: the CLI rewrites it atomically under a lock, and every API
process re-reads it when it changes (checked at most once a second), so a
revocation takes effect everywhere within a second. In production, mount it
from a shared volume or a secret that the ``tokenmeter keys`` command updates.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tokenmeter.errors import ConfigError

Role = Literal["ingest", "tenant", "admin"]
PREFIX = "tmk_"
log = logging.getLogger(__name__)


class ApiKey(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[0-9a-f]{12}$")
    name: str = ""
    role: Role
    tenants: tuple[str, ...] = ()  # ingest: allowed subjects (empty: any); tenant: exactly one
    secret_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    rate_per_second: float | None = Field(default=None, gt=0, description="None: the server default")
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class KeyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    keys: list[ApiKey] = []


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split(presented: str) -> tuple[str, str] | None:
    """(id, secret) of a well-formed key, else None."""
    if not presented.startswith(PREFIX):
        return None
    key_id, sep, secret = presented.removeprefix(PREFIX).partition("_")
    if not sep or len(key_id) != 12 or not secret:
        return None
    return key_id, secret


def read(path: Path) -> KeyFile:
    """The key file; an absent file is an empty store. Raises ConfigError if it is malformed."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return KeyFile()
    try:
        return KeyFile.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"API key file {path}: {where}: {first['msg']}") from exc


@contextmanager
def _locked(path: Path) -> Iterator[KeyFile]:
    """Read-modify-write under an exclusive lock; the new file replaces the old one atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        store = read(path)
        yield store
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(store.model_dump_json(indent=2))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)


def create(path: Path, role: Role, tenants: tuple[str, ...] = (), *, name: str = "",
           rate_per_second: float | None = None, now: datetime | None = None) -> tuple[ApiKey, str]:
    """Store a new key; return its record and the full key (the only time it exists in clear)."""
    if role == "tenant" and len(tenants) != 1:
        raise ConfigError("a tenant key reads exactly one tenant: pass --tenant once")
    if role == "admin" and tenants:
        raise ConfigError("an admin key reads every tenant: do not pass --tenant")
    if any(not t or len(t) > 256 for t in tenants):
        raise ConfigError("tenant: must be 1 to 256 characters")
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    record = ApiKey(id=key_id, name=name, role=role, tenants=tenants, secret_sha256=_digest(secret),
                    rate_per_second=rate_per_second, created_at=now or datetime.now(UTC))
    with _locked(path) as store:
        store.keys.append(record)
    return record, f"{PREFIX}{key_id}_{secret}"


def revoke(path: Path, key_id: str, *, now: datetime | None = None) -> ApiKey:
    """Mark a key revoked (kept for the audit trail). Raises ConfigError if there is no such key."""
    with _locked(path) as store:
        for i, key in enumerate(store.keys):
            if key.id == key_id:
                if key.active:
                    store.keys[i] = key.model_copy(update={"revoked_at": now or datetime.now(UTC)})
                return store.keys[i]
    raise ConfigError(f"no API key with id {key_id!r} in {path}")


class KeyRing:
    """The keys an API process checks against, re-read when the file changes."""

    def __init__(self, path: Path, *, recheck_seconds: float = 1.0) -> None:
        self.path = path
        self._recheck = recheck_seconds
        self._checked = float("-inf")
        self._stamp: tuple[int, int] | None = None
        self._keys: dict[str, ApiKey] = {}
        # FastAPI runs the key check in its thread pool. Without the lock, a request that came while
        # another thread was reading the file saw the ring still empty and answered 401 to a valid key.
        self._lock = threading.Lock()

    def find(self, presented: str) -> ApiKey | None:
        """The active key matching ``presented``, or None (unknown, malformed, wrong secret or revoked)."""
        parts = split(presented)
        if parts is None:
            return None
        self._refresh()
        key = self._keys.get(parts[0])
        if key is None or not hmac.compare_digest(key.secret_sha256, _digest(parts[1])):
            return None
        return key if key.active else None

    def _refresh(self) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._checked < self._recheck:
                return
            self._reread()
            self._checked = now

    def _reread(self) -> None:
        try:
            st = self.path.stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            try:
                self._keys = {k.id: k for k in read(self.path).keys}
                log.info("API keys: %d (%d active) read from %s", len(self._keys),
                         sum(k.active for k in self._keys.values()), self.path)
            except ConfigError as exc:  # a bad edit must not open the door or crash requests: keep the last good set
                log.error("%s; keeping the %d keys read before", exc, len(self._keys))
            self._stamp = stamp
