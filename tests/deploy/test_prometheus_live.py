"""A real Prometheus scrapes a running worker under load; every dashboard panel's PromQL returns series.

The worker is `tokenmeter worker` (meter, sink, embedded ClickHouse); the load is
`tokenmeter loadgen` with duplicates, invalid and out-of-order events. Prometheus
(Debian's package; `make test` installs it through deploy/prometheus/ensure.sh)
scrapes every second with the repository's alert and recording rules loaded.
Then each panel query goes through the Prometheus HTTP API: an error or an
empty result fails the test, naming the panel's query.
"""

import asyncio
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from tokenmeter.bench.harness import WorkerProcess, free_port, run_cli, tokenmeter_env
from tokenmeter.observability.dashboards import all_exprs
from tokenmeter.observability.metrics import CATALOG
from tokenmeter.settings import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]
RULES = REPO_ROOT / "deploy" / "prometheus" / "rules" / "tokenmeter.yml"


def test_every_cataloged_metric_is_used_by_a_panel_or_a_rule() -> None:
    import re

    rules = [r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    used = {re.sub(r"_(bucket|count|sum)$", "", m) for e in [*all_exprs(), *rules]
            for m in re.findall(r"\btokenmeter_[a-z_]+", e)}
    assert {s.name for s in CATALOG} - used == set()
    assert used - {s.name for s in CATALOG} == set()


@pytest.fixture
def prometheus_bin() -> str:
    path = shutil.which("prometheus")
    if path is None:
        pytest.fail("prometheus is not installed: run `bash deploy/prometheus/ensure.sh` (make test does)",
                    pytrace=False)
    return path


async def test_every_dashboard_query_returns_series_from_a_live_pipeline(prometheus_bin: str, tmp_path: Path) -> None:
    metrics_port, prom_port = free_port(), free_port()
    env = tokenmeter_env(namespace=f"pm{uuid.uuid4().hex[:8]}.", chdb_dir=tmp_path / "clickhouse",
                         http_port=metrics_port, var_dir=tmp_path / "var", extra={"TOKENMETER_HTTP_API_PORT": "0"})
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": "tokenmeter", "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}],
    }))
    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    prom = start_prometheus(prometheus_bin, config, tmp_path, prom_port)
    try:
        await asyncio.to_thread(worker.wait_ready)
        await asyncio.to_thread(run_cli, env, "loadgen", "--tenants", "6", "--total", "3000", "--rate", "300",
                                "--invalid-ratio", "0.02", timeout=300)
        await asyncio.to_thread(worker.wait_for, lambda: worker.metrics().get(
            'tokenmeter_sink_rows_total{table="usage_windows"}', 0) > 0, 120, "rows stored")
        await asyncio.sleep(15)  # a few scrapes and rule evaluations after the load
        failures: list[str] = []
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{prom_port}", timeout=30) as api:
            for expr in all_exprs():
                doc = (await api.get("/api/v1/query", params={"query": expr, "time": str(time.time())})).json()
                if doc.get("status") != "success":
                    failures.append(f"{expr}: {doc.get('error')}")
                elif not doc["data"]["result"]:
                    failures.append(f"{expr}: no series")
            targets = (await api.get("/api/v1/targets")).json()["data"]["activeTargets"]
            rules = (await api.get("/api/v1/rules")).json()["data"]["groups"]
        assert [t["health"] for t in targets] == ["up"]
        assert all(r["health"] == "ok" for g in rules for r in g["rules"]), rules
        assert failures == [], "\n".join(failures)
    finally:
        prom.terminate()
        prom.wait(30)
        assert worker.stop() == 0, worker.tail()


def start_prometheus(binary: str, config: Path, folder: Path, port: int) -> subprocess.Popen[bytes]:
    """``promtool check config``, then the server on 127.0.0.1:``port`` (log: folder/prometheus.log)."""
    check = subprocess.run([shutil.which("promtool") or "promtool", "check", "config", str(config)],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    with (folder / "prometheus.log").open("w") as log:
        return subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={folder / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
