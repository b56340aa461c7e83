"""Every Kafka client authenticates when KAFKA_SECURITY_PROTOCOL asks: SDK producer, topic admin, Faust, sink.

A private broker with a SASL/PLAIN listener (kafka.sh, KAFKA_SASL_PORT), a
worker configured only with that listener and credentials, and events sent by
the SDK producer with the same settings: they must be metered and stored. A
wrong password must be refused, loudly. The same again over mutual TLS
(KAFKA_SSL_PORT): the broker's certificate is checked against KAFKA_SSL_CAFILE,
the worker proves itself with KAFKA_SSL_CERTFILE/KEYFILE, and a client that
trusts another CA, or has no certificate of its own, is refused.
"""

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr

from tests.e2e.tls import make_pki
from tokenmeter.bench.harness import WorkerProcess, free_port, tokenmeter_env
from tokenmeter.chaos.driver import Broker
from tokenmeter.events.models import UsageEvent
from tokenmeter.ingest.errors import EmitError
from tokenmeter.ingest.producer import UsageEmitter
from tokenmeter.settings import KafkaSettings, StreamSettings

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]


def event(i: int) -> UsageEvent:
    return UsageEvent.model_validate({
        "specversion": "1.0", "type": "llm.usage", "id": f"s{i}", "source": "gw", "subject": "secure",
        "time": datetime.now(UTC), "data": {"provider": "openai", "model": "gpt-4o-mini", "input_tokens": 100 + i,
                                            "output_tokens": 1}})


async def test_a_sasl_broker_meters_end_to_end_and_refuses_a_wrong_password(tmp_path: Path) -> None:
    sasl_port = free_port()
    broker = Broker(tmp_path / "broker", {"KAFKA_SASL_PORT": str(sasl_port), "KAFKA_SASL_USERS": "meter:s3cret"})
    broker.up()
    secured = {"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{sasl_port}", "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
               "KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "meter", "KAFKA_SASL_PASSWORD": "s3cret"}
    namespace = f"sa{uuid.uuid4().hex[:8]}."
    env = tokenmeter_env(namespace=namespace, chdb_dir=tmp_path / "clickhouse", http_port=free_port(),
                         var_dir=tmp_path / "var", extra={**secured, "TOKENMETER_HTTP_API_PORT": "0"})
    kafka = KafkaSettings(bootstrap_servers=secured["KAFKA_BOOTSTRAP_SERVERS"], security_protocol="SASL_PLAINTEXT",
                          sasl_mechanism="PLAIN", sasl_username="meter", sasl_password=SecretStr("s3cret"))
    topic = StreamSettings(namespace=namespace).events_topic
    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    try:
        await asyncio.to_thread(worker.wait_ready)  # it created its topics through the SASL listener
        async with UsageEmitter(kafka, topic) as emitter:
            await emitter.emit_batch([event(i) for i in range(20)])

        def stored() -> bool:
            docs = orjson.loads(worker.get("/v1/totals?tenant=secure"))
            return sum(int(d["input_tokens"]) for d in docs) == sum(100 + i for i in range(20))

        await asyncio.to_thread(worker.wait_for, stored, 120, "the events sent over SASL to be stored")
        wrong = kafka.model_copy(update={"sasl_password": SecretStr("guess")})
        with pytest.raises(EmitError, match="cannot connect the producer"):  # aiokafka logs the SASL refusal
            async with UsageEmitter(wrong, topic, request_timeout_ms=5000) as bad:
                await bad.emit(event(99))
    finally:
        # Known open problem (issue 6 note): against this SASL listener the worker's SIGTERM shutdown
        # sometimes hangs until stop()'s 60 s SIGKILL (2 runs in 6). The metering asserted above is
        # what this test proves; the exit code is not asserted until that hang is understood.
        worker.stop(timeout=20)
        broker.down()


async def test_a_mutual_tls_broker_meters_end_to_end_and_refuses_an_unknown_ca(tmp_path: Path) -> None:
    pki, stranger = make_pki(tmp_path / "pki"), make_pki(tmp_path / "other-pki", "someone else's CA")
    tls_port = free_port()
    broker = Broker(tmp_path / "broker", {"KAFKA_SSL_PORT": str(tls_port), "KAFKA_SSL_KEYSTORE_PEM": str(pki.server),
                                          "KAFKA_SSL_TRUSTSTORE_PEM": str(pki.ca)})
    broker.up()
    secured = {"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{tls_port}", "KAFKA_SECURITY_PROTOCOL": "SSL",
               "KAFKA_SSL_CAFILE": str(pki.ca), "KAFKA_SSL_CERTFILE": str(pki.client_cert),
               "KAFKA_SSL_KEYFILE": str(pki.client_key)}
    namespace = f"tl{uuid.uuid4().hex[:8]}."
    env = tokenmeter_env(namespace=namespace, chdb_dir=tmp_path / "clickhouse", http_port=free_port(),
                         var_dir=tmp_path / "var", extra={**secured, "TOKENMETER_HTTP_API_PORT": "0"})
    kafka = KafkaSettings(bootstrap_servers=secured["KAFKA_BOOTSTRAP_SERVERS"], security_protocol="SSL",
                          ssl_cafile=pki.ca, ssl_certfile=pki.client_cert, ssl_keyfile=pki.client_key)
    topic = StreamSettings(namespace=namespace).events_topic
    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    try:
        await asyncio.to_thread(worker.wait_ready)  # topics created, group joined, all over TLS
        async with UsageEmitter(kafka, topic) as emitter:
            await emitter.emit_batch([event(i) for i in range(20)])

        def stored() -> bool:
            docs = orjson.loads(worker.get("/v1/totals?tenant=secure"))
            return sum(int(d["input_tokens"]) for d in docs) == sum(100 + i for i in range(20))

        await asyncio.to_thread(worker.wait_for, stored, 120, "the events sent over TLS to be stored")
        distrustful = kafka.model_copy(update={"ssl_cafile": stranger.ca})
        anonymous = kafka.model_copy(update={"ssl_certfile": None, "ssl_keyfile": None})
        for refused in (distrustful, anonymous):
            with pytest.raises(EmitError, match="cannot connect the producer"):
                async with UsageEmitter(refused, topic, request_timeout_ms=5000) as bad:
                    await bad.emit(event(99))
    finally:
        worker.stop(timeout=20)
        broker.down()
