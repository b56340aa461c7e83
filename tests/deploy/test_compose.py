"""deploy/docker-compose.yml, checked without Docker: files exist, env names are real settings, ports agree."""

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from tokenmeter.cli.main import cli
from tokenmeter.settings import REPO_ROOT, ClickHouseSettings, HttpSettings, KafkaSettings, StreamSettings

DEPLOY = REPO_ROOT / "deploy"
COMPOSE: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
TOKENMETER = ("migrate", "worker", "api")


def setting_names() -> set[str]:
    names = set()
    classes: tuple[type[BaseSettings], ...] = (KafkaSettings, ClickHouseSettings, StreamSettings, HttpSettings)
    for cls in classes:
        prefix = cls.model_config.get("env_prefix", "")
        names |= {f"{prefix}{name}".upper() for name in cls.model_fields}
    return names


def test_the_stack_has_every_part() -> None:
    assert set(SERVICES) == {"kafka", "clickhouse", "migrate", "worker", "api", "prometheus", "grafana"}
    assert SERVICES["kafka"]["image"].startswith("apache/kafka:")  # the official image, KRaft
    assert SERVICES["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_every_tokenmeter_variable_is_a_real_setting() -> None:
    known = setting_names()
    for name in TOKENMETER:
        env = SERVICES[name]["environment"]
        unknown = {k for k in env if k.startswith(("KAFKA_", "CLICKHOUSE_", "TOKENMETER_"))} - known
        assert unknown == set(), (name, unknown)
        assert env["CLICKHOUSE_URL"].startswith("http://clickhouse:")


def test_every_mounted_or_built_file_exists() -> None:
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), (name, source)
        if "build" in service:
            assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (\S+)", dockerfile, flags=re.M):
        assert (REPO_ROOT / source).exists(), source


def test_ports_healthchecks_and_scrape_targets_agree() -> None:
    worker_env, api_env = SERVICES["worker"]["environment"], SERVICES["api"]["environment"]
    assert f":{worker_env['TOKENMETER_HTTP_PORT']}/healthz" in str(SERVICES["worker"]["healthcheck"]["test"])
    assert f":{api_env['TOKENMETER_HTTP_API_PORT']}/readyz" in str(SERVICES["api"]["healthcheck"]["test"])
    assert SERVICES["api"]["ports"] == [f"127.0.0.1:{api_env['TOKENMETER_HTTP_API_PORT']}:8080"]
    assert worker_env["TOKENMETER_HTTP_API_PORT"] == "0"  # the API is its own process here
    for name in ("kafka", "clickhouse", "worker", "api"):
        assert SERVICES[name]["healthcheck"]["test"], name
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.compose.yml").read_text())
    assert prom["scrape_configs"][0]["static_configs"][0]["targets"] == [f"worker:{worker_env['TOKENMETER_HTTP_PORT']}"]
    mounts = dict(v.split(":")[:2][::-1] for v in SERVICES["prometheus"]["volumes"] if v.startswith("."))
    rule_file = Path(prom["rule_files"][0])
    assert (DEPLOY / mounts[str(rule_file.parent)] / rule_file.name).is_file()


def test_grafana_provisioning_points_at_the_mounted_dashboards() -> None:
    provider = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "tokenmeter.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in SERVICES["grafana"]["volumes"]}
    assert (DEPLOY / mounts[path]).is_dir() and list((DEPLOY / mounts[path]).glob("*.json"))
    datasource = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert datasource["datasources"][0]["uid"] == "prometheus"  # the uid every panel names


def test_the_commands_the_stack_runs_exist() -> None:
    commands = set(cli.commands)
    assert {"worker", "api", "migrate", "topics"} <= commands
    assert SERVICES["worker"]["command"] == ["worker"] and SERVICES["api"]["command"] == ["api"]


@pytest.fixture(scope="module")
def compose_check(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """deploy/compose-check built with Go: compose-go, the loader inside Docker Compose."""
    go = shutil.which("go")
    if go is None:
        pytest.fail("the compose check needs Go 1.26+ (compose-go is a Go library): install it from https://go.dev/dl")
    binary = tmp_path_factory.mktemp("compose-check") / "compose-check"
    built = subprocess.run([go, "build", "-o", str(binary), "."], cwd=DEPLOY / "compose-check",
                           capture_output=True, text=True, timeout=540, check=False)
    assert built.returncode == 0, built.stderr
    return binary


def test_compose_go_accepts_the_stack_as_docker_compose_would(compose_check: Path) -> None:
    loaded = subprocess.run([str(compose_check), str(DEPLOY / "docker-compose.yml")], capture_output=True,
                            text=True, timeout=60, check=False)
    assert loaded.returncode == 0, loaded.stderr
    project = json.loads(loaded.stdout)
    services = project["services"]
    assert set(services) == set(SERVICES)
    for name, service in services.items():
        for needed, how in (service.get("depends_on") or {}).items():
            if how["condition"] == "service_healthy":
                assert services[needed].get("healthcheck", {}).get("test"), (name, needed)
            for volume in service.get("volumes") or []:
                if volume["type"] == "volume":
                    assert volume["source"] in project["volumes"], (name, volume["source"])


@pytest.mark.parametrize(("edit", "message"), [
    (("  worker:\n", "  worker:\n    restartt: always\n"), "services.worker.restartt"),
    (("interval: 10s", "interval: banana"), 'invalid duration "banana"')])
def test_compose_check_refuses_a_broken_file(compose_check: Path, tmp_path: Path, edit: tuple[str, str],
                                             message: str) -> None:
    text = (DEPLOY / "docker-compose.yml").read_text()
    assert edit[0] in text
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace(edit[0], edit[1], 1))
    loaded = subprocess.run([str(compose_check), str(broken)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert loaded.returncode == 1 and message in loaded.stderr, loaded.stderr
