"""API test helpers: a key file with one key of each kind, and an app with the real error handlers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI

from tokenmeter.api import keys
from tokenmeter.api.app import install_error_handlers
from tokenmeter.api.auth import Access, Guard
from tokenmeter.api.keys import KeyRing

Headers = dict[str, str]


@dataclass(frozen=True)
class Keys:
    admin: Headers
    ingest: Headers
    ingest_acme: Headers       # may send only for acme
    tenant_acme: Headers
    tenant_globex: Headers
    revoked: Headers


def bearer(key: str) -> Headers:
    return {"authorization": f"Bearer {key}"}


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    return tmp_path / "api-keys.json"


@pytest.fixture
def api_keys(keys_file: Path) -> Keys:
    def new(role: keys.Role, *tenants: str) -> Headers:
        return bearer(keys.create(keys_file, role, tenants)[1])

    revoked, full = keys.create(keys_file, "admin")
    keys.revoke(keys_file, revoked.id)
    return Keys(admin=new("admin"), ingest=new("ingest"), ingest_acme=new("ingest", "acme"),
                tenant_acme=new("tenant", "acme"), tenant_globex=new("tenant", "globex"), revoked=bearer(full))


@pytest.fixture
def access(keys_file: Path) -> Access:
    return Access(Guard(KeyRing(keys_file), default_rate=10_000))


def app_with(*routers: APIRouter) -> FastAPI:
    app = FastAPI()
    for router in routers:
        app.include_router(router)
    install_error_handlers(app)
    return app
