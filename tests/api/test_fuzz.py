"""Schemathesis fuzzes the checked-in OpenAPI document against the real API over real HTTP.

The server is the production app (build_api) on uvicorn in a thread, with a
real Kafka producer and the real ClickHouse engine holding some usage. Every
operation gets TOKENMETER_FUZZ_EXAMPLES generated requests (default 15, small
enough for `make test`); `make fuzz` runs the same test with 500 each. The
checks are Schemathesis's defaults: no 5xx, responses and status codes as the
document says, schema-violating requests refused, auth enforced, and so on.

One default check is left out: "schema-valid data is accepted". The event
decoder refuses, by design, some events JSON Schema cannot describe: unpaired
UTF-16 surrogates in strings (not valid Unicode), 1926.0 where a count must be
an integer, events over 64 KiB. Those are 400s that name the field.
"""

import asyncio
import os
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tokenmeter.api import keys
from tokenmeter.api.app import build_api, catalog_for
from tokenmeter.api.auth import Guard
from tokenmeter.api.keys import KeyRing
from tokenmeter.bench.harness import free_port
from tokenmeter.ingest.producer import UsageEmitter
from tokenmeter.settings import REPO_ROOT, ClickHouseSettings, KafkaSettings, StreamSettings
from tokenmeter.storage.clickhouse import connect
from tokenmeter.storage.migrations import migrate
from tokenmeter.stream.topics import ensure_topics

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]
EXCLUDED = [positive_data_acceptance]
EXAMPLES = int(os.environ.get("TOKENMETER_FUZZ_EXAMPLES", "15"))
SPEC = schemathesis.openapi.from_path(REPO_ROOT / "schemas" / "openapi.json")


# Keys exist before collection: Schemathesis sets credentials while it generates cases.
KEY_FILE = Path(tempfile.mkdtemp(prefix="tokenmeter-fuzz-")) / "api-keys.json"
ADMIN_KEY = keys.create(KEY_FILE, "admin")[1]
TENANT_KEY = keys.create(KEY_FILE, "tenant", ("acme",))[1]
AS_TENANT = schemathesis.openapi.from_path(REPO_ROOT / "schemas" / "openapi.json")


class _Bearer:
    """Schemathesis's way to send a real credential (it then probes that the API refuses none or a bad one)."""

    key = ""

    def get(self, case: schemathesis.Case, context: schemathesis.AuthContext) -> str:
        return self.key

    def set(self, case: schemathesis.Case, data: str, context: schemathesis.AuthContext) -> None:
        case.headers["Authorization"] = f"Bearer {data}"


@SPEC.auth()
class _Admin(_Bearer):
    key = ADMIN_KEY


@AS_TENANT.auth()
class _Tenant(_Bearer):
    key = TENANT_KEY


@pytest.fixture(scope="module")
def served(kafka_settings: KafkaSettings, chdb_path: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API on a free port, with acme's usage of November 2026 stored."""
    tmp = tmp_path_factory.mktemp("fuzz")
    stream = StreamSettings(namespace=f"fz{uuid.uuid4().hex[:8]}.", var_dir=tmp)
    db = connect(ClickHouseSettings(url=f"chdb://{chdb_path}", database=f"fz_{uuid.uuid4().hex[:10]}"))
    migrate(db)
    db.command(
        "INSERT INTO usage_windows (tenant, window_start, window_end, provider, model, service_tier, requests, "
        "events, input_tokens, output_tokens, input_cost, output_cost, cost_total, currency, version) VALUES "
        "('acme', '2026-11-02 10:00:00', '2026-11-02 10:01:00', 'openai', 'gpt-4o', 'standard', 4, 4, 2000000, 0, "
        "5, 0, 5, 'USD', 1)")
    port = free_port()
    ready, stop = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    async def serve() -> None:
        await ensure_topics(kafka_settings, stream)
        async with UsageEmitter(kafka_settings, stream.events_topic) as emitter:
            api = build_api(emitter, db, Guard(KeyRing(KEY_FILE), default_rate=1_000_000), catalog_for(stream))
            server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=port, log_level="warning",
                                                   lifespan="off"))
            task = asyncio.create_task(server.serve())
            while not server.started:  # noqa: ASYNC110 (uvicorn offers no event for this)
                await asyncio.sleep(0.02)
            ready.set()
            await asyncio.to_thread(stop.wait)
            server.should_exit = True
            await task

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # reported by the fixture, not lost in the thread
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=run, name="fuzzed-api", daemon=True)
    thread.start()
    assert ready.wait(60), "the API did not start within 60 s"
    assert not failure, failure
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        thread.join(30)
        db.close()


@SPEC.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_the_api_fail_for_an_admin(case: schemathesis.Case, served: str) -> None:
    case.call_and_validate(base_url=served, excluded_checks=EXCLUDED)


@AS_TENANT.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_the_api_fail_for_a_tenant(case: schemathesis.Case, served: str) -> None:
    case.call_and_validate(base_url=served, excluded_checks=EXCLUDED)
