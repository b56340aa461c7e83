"""Run the pipeline under faults and check the result against the plan's expectation.

Set-up: a broker of its own (deploy/kafka/kafka.sh on free ports and a private
folder, so restarting it disturbs nobody), worker A (meter + sink, owns the
embedded ClickHouse) and worker B (meter only, optionally on the RocksDB store)
in one consumer group over 8 partitions, and a sender that replays the plan at
a fixed rate, resending whatever Kafka did not acknowledge.

Faults, at seeded moments of the main phase, one after the other:

- ``kill``: SIGKILL of A or B; a supervisor restarts it after a short pause;
- ``flush-kill``: A kills itself right after a sink insert, before the commit;
- ``meter-crash``: the meter of A or B raises in the middle of a run; the
  worker must exit with code 70 (crash-only) and is restarted;
- ``sink-outage``: every ClickHouse call in A fails for ``outage_seconds``;
- ``broker-restart``: the broker is stopped and started again;
- ``rebalance``: B is killed and kept down until A reports that it meters all
  partitions, then B comes back (a second rebalance).

The seed decides the plan and the schedule; wall-clock interleavings still
differ between runs, which is the point of running it often.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import random
import shutil
import subprocess
import sys
import time
import urllib.error
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from tokenmeter.bench.harness import WorkerProcess, free_port, sql_rows, tokenmeter_env
from tokenmeter.chaos.plan import ChaosPlan, ChaosSpec, Record, build
from tokenmeter.events.models import TOKEN_CLASSES
from tokenmeter.faults import CLICKHOUSE_DOWN, KILL_AFTER_SINK_INSERT, METER_RAISES
from tokenmeter.ingest.errors import EmitError
from tokenmeter.ingest.producer import UsageEmitter
from tokenmeter.settings import REPO_ROOT, KafkaSettings
from tokenmeter.stream.crash import EXIT_CRASHED

log = logging.getLogger("tokenmeter.chaos")
KAFKA_SH = REPO_ROOT / "deploy" / "kafka" / "kafka.sh"


@dataclass(frozen=True, slots=True)
class ChaosConfig:
    spec: ChaosSpec
    rate: float = 400.0                # events/s offered in the main phase
    kills: int = 6                     # external SIGKILLs at random moments
    flush_kills: int = 1
    meter_crashes: int = 1             # the meter raises mid-run; its worker must exit 70
    broker_restarts: int = 1
    outage_seconds: float = 12.0
    rebalances: int = 1
    held_back_after_seconds: float = 180.0  # resend held-back duplicates this long after the start
    rocksdb_worker: bool = True        # worker B keeps its tables in RocksDB
    converge_timeout_seconds: float = 300.0


@dataclass(slots=True)
class Outcome:
    seed: int
    events: int
    unique: int
    expected_tokens: int
    stored_tokens: int
    lost: int
    double: int
    kills: int
    broker_restarts: int
    sink_outages: int
    money_ok: bool
    reconcile_ok: bool
    dlq_ok: bool
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (self.lost == 0 and self.double == 0 and self.stored_tokens == self.expected_tokens
                and self.money_ok and self.reconcile_ok and self.dlq_ok)

    def summary(self) -> str:
        return (f"chaos: events={self.events} unique={self.unique} expected_tokens={self.expected_tokens} "
                f"stored_tokens={self.stored_tokens} lost={self.lost} double={self.double} kills={self.kills} "
                f"broker_restarts={self.broker_restarts} sink_outages={self.sink_outages}")


class Broker:
    """A private broker run by kafka.sh, restartable."""

    def __init__(self, folder: Path, extra_env: dict[str, str] | None = None) -> None:
        self.port, self.cport = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
        env.update({"TOKENMETER_VAR": str(folder), "KAFKA_PORT": str(self.port),
                    "KAFKA_CONTROLLER_PORT": str(self.cport), **(extra_env or {})})
        self._env = env

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self, action: str) -> None:
        proc = subprocess.run([str(KAFKA_SH), action], env=self._env, capture_output=True, text=True,
                              timeout=180, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"kafka.sh {action} failed:\n{proc.stdout}\n{proc.stderr}")

    def up(self) -> None:
        self._run("up")

    def down(self) -> None:
        self._run("down")


class Supervised:
    """A worker kept running: restarted after it dies, unless deliberately held down."""

    def __init__(self, name: str, proc: WorkerProcess) -> None:
        self.name = name
        self.proc = proc
        self.hold = False
        self.restarts = 0
        self.unexpected_deaths = 0
        self.expected_death = False

    def alive(self) -> bool:
        return self.proc.proc is not None and self.proc.proc.poll() is None

    def kill(self) -> None:
        self.expected_death = True
        self.proc.kill()

    def exit_code(self) -> int | None:
        return None if self.proc.proc is None else self.proc.proc.poll()

    def restart(self) -> None:
        if self.proc.proc is not None and self.proc.proc.poll() is not None and not self.expected_death:
            self.unexpected_deaths += 1
            log.warning("%s died by itself (exit %s); restarting", self.name, self.proc.proc.returncode)
        self.expected_death = False
        self.restarts += 1
        self.proc.start()

    def partitions(self) -> list[int] | None:
        try:
            doc = orjson.loads(self.proc.get("/healthz"))
        except (urllib.error.URLError, OSError, ValueError):
            return None
        parts: list[int] = doc.get("partitions", [])
        return parts


class Run:
    def __init__(self, config: ChaosConfig, folder: Path) -> None:
        self.config = config
        self.folder = folder
        self.rng = random.Random(config.spec.seed * 7919 + 1)
        self.broker = Broker(folder)
        self.faults_dir = folder / "faults"
        self.faults_dir.mkdir(parents=True, exist_ok=True)
        self.chdb = folder / "clickhouse"
        self.t0 = 0.0
        self.timeline: list[str] = []
        self.recoveries: dict[str, float] = {}
        self.kills = 0
        self.broker_restarts = 0
        self.sink_outages = 0
        self.resent_records = 0
        self.main_done = False

    # -- processes -------------------------------------------------------------------------------

    def env(self, name: str, **extra: str) -> dict[str, str]:
        return tokenmeter_env(
            namespace="chaos.", chdb_dir=self.chdb, http_port=free_port(), var_dir=self.folder / name,
            extra={"KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap,
                   "TOKENMETER_WINDOW_SECONDS": str(self.config.spec.window_seconds),
                   "TOKENMETER_FAULTS_DIR": str(self.faults_dir), **extra})

    def note(self, text: str) -> None:
        line = f"[{time.monotonic() - self.t0:7.1f}s] {text}"
        self.timeline.append(line)
        log.info("%s", line)

    async def supervise(self, workers: list[Supervised], stop: asyncio.Event) -> None:
        while not stop.is_set():
            for w in workers:
                if not w.hold and not w.alive():
                    await asyncio.sleep(self.rng.uniform(0.5, 2.0))
                    if not w.hold and not w.alive():
                        w.restart()
                        self.note(f"{w.name} restarted (pid {w.proc.pid})")
            await asyncio.sleep(0.2)

    async def until_ready(self, w: Supervised) -> float:
        async def ready() -> bool:
            return w.alive() and w.partitions() is not None

        return await wait_until(ready, f"{w.name} ready (log: {w.proc.log_path})")

    # -- load ------------------------------------------------------------------------------------

    async def send(self, records: list[Record], rate: float) -> None:
        """Send in order at ``rate`` events/s; resend any chunk Kafka did not acknowledge."""
        kafka = KafkaSettings(bootstrap_servers=self.broker.bootstrap)
        emitter: UsageEmitter | None = None
        started, events, i = time.monotonic(), 0, 0
        try:
            while i < len(records):
                chunk = records[i:i + 20]
                try:
                    if emitter is None:
                        emitter = UsageEmitter(kafka, "chaos.usage.events", request_timeout_ms=15_000)
                        await emitter.start()
                    futures = [await emitter.send_raw(r.key, r.value) for r in chunk]
                    await asyncio.wait_for(emitter.acknowledged(futures, [r.events for r in chunk]), 60)
                except (EmitError, KafkaError, TimeoutError) as exc:
                    # Some of the chunk may be stored: resending is safe, the meter drops repeats.
                    self.resent_records += len(chunk)
                    log.info("send failed (%s); resending %d records", type(exc).__name__, len(chunk))
                    if emitter is not None:
                        await _quietly(emitter.stop())
                        emitter = None
                    await asyncio.sleep(1.0)
                    continue
                i += len(chunk)
                events += sum(r.events for r in chunk)
                ahead = started + events / rate - time.monotonic()
                if ahead > 0:
                    await asyncio.sleep(ahead)
        finally:
            if emitter is not None:
                await _quietly(emitter.stop())

    # -- faults ----------------------------------------------------------------------------------

    def schedule(self, main_seconds: float) -> list[tuple[float, str]]:
        """Seeded fault moments across the main phase, in order."""
        c = self.config
        kinds = (["kill"] * c.kills + ["flush-kill"] * c.flush_kills + ["meter-crash"] * c.meter_crashes
                 + ["sink-outage"]
                 + ["broker-restart"] * c.broker_restarts + ["rebalance"] * c.rebalances)
        self.rng.shuffle(kinds)
        slot = main_seconds * 0.85 / max(1, len(kinds))
        return [(main_seconds * 0.05 + k * slot + self.rng.uniform(0, slot * 0.5), kind)
                for k, kind in enumerate(kinds)]

    async def inject(self, plan: list[tuple[float, str]], a: Supervised, b: Supervised) -> None:
        for at, kind in plan:
            delay = self.t0 + at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if kind == "kill":
                victim = self.rng.choice([a, b])
                await self.until_ready(victim)
                victim.kill()
                self.kills += 1
                self.note(f"kill -9 {victim.name}")
                await asyncio.sleep(0.1)
                self.recoveries[f"kill {victim.name} #{self.kills}"] = await self.until_ready(victim)
            elif kind == "flush-kill":
                await self.until_ready(a)
                (self.faults_dir / KILL_AFTER_SINK_INSERT).touch()
                self.note("armed: A kills itself after its next sink insert, before committing")
                async def a_dead() -> bool:
                    return not a.alive()

                await wait_until(a_dead, "A's next sink flush", step=0.05)
                a.expected_death = True
                self.kills += 1
                self.note("A died inside a sink flush")
                self.recoveries[f"flush-kill #{self.kills}"] = await self.until_ready(a)
            elif kind == "meter-crash":
                await self.until_ready(a)
                await self.until_ready(b)
                (self.faults_dir / METER_RAISES).touch()
                self.note("armed: the next meter run of A or B raises")

                async def one_died() -> bool:
                    return not a.alive() or not b.alive()

                await wait_until(one_died, "a worker exiting after its meter raised", step=0.05)
                victim = a if not a.alive() else b
                code = victim.exit_code()
                if code != EXIT_CRASHED:
                    raise AssertionError(f"{victim.name} exited {code} after its meter raised, not {EXIT_CRASHED}")
                victim.expected_death = True
                self.kills += 1
                self.note(f"{victim.name} exited {code} after its meter raised")
                self.recoveries[f"meter-crash {victim.name}"] = await self.until_ready(victim)
            elif kind == "sink-outage":
                rows_before = await self._sink_rows(a)
                (self.faults_dir / CLICKHOUSE_DOWN).touch()
                self.sink_outages += 1
                self.note(f"ClickHouse down for {self.config.outage_seconds:.0f}s")
                await asyncio.sleep(self.config.outage_seconds)
                (self.faults_dir / CLICKHOUSE_DOWN).unlink()
                ended = time.monotonic()
                self.note("ClickHouse back")
                if await self._sink_resumed(a, rows_before):
                    self.recoveries["sink-outage"] = time.monotonic() - ended
                    self.note(f"sink stored rows again after {self.recoveries['sink-outage']:.1f}s")
            elif kind == "broker-restart":
                began = time.monotonic()
                self.note("broker stopping")
                await asyncio.to_thread(self.broker.down)
                await asyncio.sleep(2.0)
                await asyncio.to_thread(self.broker.up)
                self.broker_restarts += 1
                self.note(f"broker up again after {time.monotonic() - began:.1f}s")
                rows_before = await self._sink_rows(a)
                if await self._sink_resumed(a, rows_before):
                    self.recoveries["broker-restart"] = time.monotonic() - began
                    self.note(f"pipeline storing rows again {self.recoveries['broker-restart']:.1f}s after the stop")
            elif kind == "rebalance":
                await self.until_ready(b)
                b.hold = True
                b.kill()
                self.kills += 1
                began = time.monotonic()
                self.note("rebalance: kill -9 B and keep it down")
                n = len(a.partitions() or [])

                async def a_owns_all() -> bool:
                    return len(a.partitions() or []) == 8

                await wait_until(a_owns_all, "A taking over B's partitions")
                self.recoveries["rebalance takeover"] = time.monotonic() - began
                self.note(f"A meters all 8 partitions (had {n}) after {self.recoveries['rebalance takeover']:.1f}s")
                b.hold = False
                self.recoveries[f"rebalance B back #{self.kills}"] = await self.until_ready(b)
                self.note("B back: partitions split again")

    async def _sink_resumed(self, a: Supervised, before: float) -> bool:
        """Wait (up to a minute) for the sink to store rows again; False if nothing was left to store."""
        async def progressed() -> bool:
            return await self._sink_rows(a) > before

        try:
            await wait_until(progressed, "sink progress", limit=60)
        except TimeoutError:
            self.note("no new rows to store within 60 s (the fault came after the last record)")
            return False
        return True

    async def _sink_rows(self, a: Supervised) -> float:
        while True:
            try:
                m = a.proc.metrics()
                return sum(v for k, v in m.items() if k.startswith("tokenmeter_sink_rows_total"))
            except (urllib.error.URLError, OSError):
                await asyncio.sleep(0.3)

    async def stored_tokens_live(self, a: Supervised) -> int | None:
        try:
            rows = orjson.loads(a.proc.get("/v1/totals"))
        except (urllib.error.URLError, OSError, ValueError):
            return None
        return sum(int(r[c]) for r in rows for c in TOKEN_CLASSES)

    # -- the run ---------------------------------------------------------------------------------

    async def execute(self) -> Outcome:
        c = self.config
        start = datetime.now(UTC) + timedelta(seconds=40)  # the main phase begins after set-up
        plan = await asyncio.to_thread(build, c.spec, start=start)
        log.info("plan: %d records (%d events, %d unique) + %d held-back duplicates; %s", len(plan.main),
                 plan.events_sent, plan.expected.unique, len(plan.held_back), plan.stats)
        await asyncio.to_thread(self.broker.up)
        self.t0 = time.monotonic()
        a = Supervised("A", WorkerProcess(self.env("A"), self.folder / "worker-A.log", "worker"))
        b_extra = {"TOKENMETER_STORE": "rocksdb://"} if c.rocksdb_worker else {}
        b = Supervised("B", WorkerProcess(self.env("B", **b_extra), self.folder / "worker-B.log", "worker",
                                          "--no-sink"))
        stop = asyncio.Event()
        try:
            a.restart()
            await self.until_ready(a)
            b.restart()
            await self.until_ready(b)
            self.note(f"workers ready: A={a.partitions()} B={b.partitions()}")
            supervisor = asyncio.create_task(self.supervise([a, b], stop))
            wait = (start - datetime.now(UTC)).total_seconds()
            if wait > 0:
                await asyncio.sleep(wait)
            self.t0 = time.monotonic()
            self.note("main phase starts")
            main_seconds = plan.events_sent / c.rate
            faults = asyncio.create_task(self.inject(self.schedule(main_seconds), a, b))
            await self.send(plan.main, c.rate)
            self.note(f"main phase sent ({len(plan.main)} records, {self.resent_records} resent)")
            await faults
            delay = self.t0 + c.held_back_after_seconds - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await self.send(plan.held_back, c.rate)
            self.note(f"{len(plan.held_back)} held-back duplicates resent")
            converged = await self.converge(a, plan.expected.total_tokens())
            stop.set()
            await supervisor
        finally:
            stop.set()
            for w in (b, a):
                w.hold = True
                code = w.proc.stop()
                log.info("%s stopped (exit %s)", w.name, code)
        outcome = await self.verify(plan, a.proc.env, converged)
        outcome.details.update(unexpected_deaths={w.name: w.unexpected_deaths for w in (a, b)})
        await asyncio.to_thread(self.broker.down)
        return outcome

    async def converge(self, a: Supervised, expected_tokens: int) -> float:
        """Wait until the live totals equal the expectation (or stop changing); return how long it took."""
        began = time.monotonic()
        last, last_change = None, began
        while time.monotonic() - began < self.config.converge_timeout_seconds:
            now = await self.stored_tokens_live(a)
            if now != last:
                last, last_change = now, time.monotonic()
            if now == expected_tokens:
                await asyncio.sleep(3.0)  # anything still in flight would show as a double count
                self.note(f"converged {time.monotonic() - began:.1f}s after the last record")
                return time.monotonic() - began
            if now is not None and now > expected_tokens and time.monotonic() - last_change > 30:
                break
            await asyncio.sleep(0.5)
        self.note(f"did not converge: live tokens {last}, expected {expected_tokens}")
        return -1.0

    async def verify(self, plan: ChaosPlan, env: Mapping[str, str], converged: float) -> Outcome:
        exp = plan.expected
        rows = await asyncio.to_thread(sql_rows, env, (
            "SELECT tenant, toUnixTimestamp64Milli(window_start) AS start_ms, provider, model, service_tier, "
            "events, requests, " + ", ".join(TOKEN_CLASSES) + ", toString(cost_total) AS cost "
            "FROM usage_windows FINAL"))
        stored: dict[tuple[str, int, str, str, str], list[int]] = {}
        money: dict[tuple[str, str, str], Decimal] = {}
        for r in rows:
            key = (r["tenant"], int(r["start_ms"]), r["provider"], r["model"], r["service_tier"])
            row = [int(r["events"]), int(r["requests"]), *(int(r[c]) for c in TOKEN_CLASSES)]
            stored[key] = [a + b for a, b in zip(stored.get(key, [0] * len(row)), row, strict=True)]  # all bands
            mkey = (r["tenant"], r["provider"], r["model"])
            money[mkey] = money.get(mkey, Decimal(0)) + Decimal(r["cost"])
        lost = double = 0
        for key in exp.windows.keys() | stored.keys():
            want, got = exp.windows.get(key, [0]), stored.get(key, [0])
            lost += max(0, want[0] - got[0])
            double += max(0, got[0] - want[0])
        ids = await asyncio.to_thread(sql_rows, env, "SELECT tenant, event_id FROM usage_events FINAL")
        stored_ids = {(r["tenant"], r["event_id"]) for r in ids}
        missing, unexpected = len(exp.ids - stored_ids), len(stored_ids - exp.ids)
        expected_money = exp.money()
        money_ok = {k: v for k, v in money.items() if v or k in expected_money} == expected_money
        reconcile = await asyncio.to_thread(_reconcile, env)
        dlq_ok, dlq_detail = await self.check_dlq(exp.dlq)
        stored_tokens = sum(sum(v[2:]) for v in stored.values())
        return Outcome(
            seed=self.config.spec.seed, events=plan.events_sent, unique=exp.unique,
            expected_tokens=exp.total_tokens(), stored_tokens=stored_tokens,
            lost=max(lost, missing), double=max(double, unexpected), kills=self.kills,
            broker_restarts=self.broker_restarts, sink_outages=self.sink_outages, money_ok=money_ok,
            reconcile_ok=reconcile[0] == 0, dlq_ok=dlq_ok,
            details={
                "windows_expected": len(exp.windows), "windows_stored": len(stored),
                "events_rows_missing": missing, "events_rows_unexpected": unexpected,
                "money_expected": str(sum(expected_money.values())), "money_stored": str(sum(money.values())),
                "reconcile": reconcile[1], "dlq": dlq_detail, "plan": plan.stats,
                "resent_records": self.resent_records, "converged_after_s": round(converged, 1),
                "recovery_s": {k: round(v, 1) for k, v in self.recoveries.items()},
                "worst_recovery_s": round(max(self.recoveries.values(), default=0.0), 1),
                "timeline": self.timeline,
            })

    async def check_dlq(self, expected: dict[str, str]) -> tuple[bool, str]:
        """Every refused event is dead-lettered with its reason (redeliveries may repeat a record)."""
        consumer = AIOKafkaConsumer("chaos.usage.events.dlq", bootstrap_servers=self.broker.bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        found: dict[str, str] = {}
        try:  # read every partition up to its end offset (not "until it looks idle")
            ends: dict[TopicPartition, int] | None = None
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    for rec in records:
                        doc = orjson.loads(rec.value)
                        event_id = doc.get("event_id") or _id_from_payload(doc)
                        if event_id:
                            found[event_id] = doc["reason"]
                parts = consumer.assignment()
                if parts and ends is None:
                    ends = await consumer.end_offsets(list(parts))
                if ends is not None and all([await consumer.position(tp) >= ends[tp] for tp in ends]):
                    break
        finally:
            await consumer.stop()
        wrong = {k: (v, found.get(k)) for k, v in expected.items() if found.get(k) != v}
        extra = set(found) - set(expected)
        ok = not wrong and not extra
        sample = dict(list(wrong.items())[:5])
        return ok, (f"expected={len(expected)} found={len(found)} wrong_or_missing={len(wrong)} extra={len(extra)}"
                    + (f" e.g. {sample} {sorted(extra)[:5]}" if not ok else ""))


async def wait_until(check: Callable[[], Awaitable[bool]], what: str, *, limit: float = 180,
                     step: float = 0.2) -> float:
    """Poll ``check`` (the state lives in another process) until true; return the seconds it took."""
    started = time.monotonic()
    while not await check():  # nothing to await on: another process holds the state
        if time.monotonic() - started > limit:
            raise TimeoutError(f"timed out after {limit:.0f}s waiting for {what}")
        await asyncio.sleep(step)
    return time.monotonic() - started


def _id_from_payload(doc: dict[str, Any]) -> str | None:
    """Undecodable payloads carry no parsed id; the plan writes its ids as plain text inside them."""
    raw = base64.b64decode(doc["payload_b64"]) if "payload_b64" in doc else doc.get("payload", "").encode()
    marker = b'"id": "'
    if marker in raw:
        return raw.split(marker, 1)[1].split(b'"', 1)[0].decode()
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return parsed.get("id") if isinstance(parsed, dict) else None


def _reconcile(env: Mapping[str, str]) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "tokenmeter", "--log-level", "warning", "reconcile", "--from", "2000-01-01",
         "--to", "2100-01-01"], env=dict(env), capture_output=True, text=True, timeout=300, check=False)
    lines = proc.stdout.strip().splitlines()
    return proc.returncode, (lines[-1] if lines else proc.stderr.strip()[-500:])


async def _quietly(coro: Any) -> None:
    try:
        await asyncio.wait_for(coro, 15)
    except Exception as exc:  # tearing down a producer whose broker is gone: nothing to save
        log.debug("ignored while closing: %r", exc)


def run_chaos(config: ChaosConfig, folder: Path) -> Outcome:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return asyncio.run(Run(config, folder).execute())

