"""The Prometheus config and alert rules, checked and unit-tested by the real promtool."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tokenmeter.observability.metrics import CATALOG
from tokenmeter.settings import REPO_ROOT

PROM = REPO_ROOT / "deploy" / "prometheus"
RULES = PROM / "rules" / "tokenmeter.yml"
RULE_TESTS = PROM / "tests" / "tokenmeter_test.yml"


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: run `bash deploy/prometheus/ensure.sh` (make test does)", pytrace=False)
    return path


def run(*args: str | Path) -> str:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_promtool_accepts_the_config_and_the_rules(promtool: str) -> None:
    assert "SUCCESS" in run(promtool, "check", "config", PROM / "prometheus.yml")
    assert "SUCCESS: 9 rules found" in run(promtool, "check", "rules", RULES)


def test_every_alert_fires_and_stays_silent_in_promtool_unit_tests(promtool: str) -> None:
    assert run(promtool, "test", "rules", RULE_TESTS).strip().endswith("SUCCESS")
    alerts = [r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r]
    cases: dict[str, set[bool]] = {}
    for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for case in test.get("alert_rule_test", []):
            cases.setdefault(case["alertname"], set()).add(bool(case.get("exp_alerts")))
    assert {a: cases.get(a) for a in alerts} == {a: {True, False} for a in alerts}


def test_every_alert_has_a_runbook_a_summary_and_a_severity() -> None:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                assert rule["labels"]["severity"] in {"page", "ticket", "info"}, rule["alert"]
                assert rule["annotations"]["runbook"] and rule["annotations"]["summary"], rule["alert"]


def test_rules_reference_only_cataloged_metrics() -> None:
    known = {s.name for s in CATALOG}
    exprs = [r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    used = {m for e in exprs for m in re.findall(r"\btokenmeter_[a-z_]+", e)}
    assert len(used) >= 8
    unknown = {m for m in used if re.sub(r"_(bucket|count|sum)$", "", m) not in known}
    assert unknown == set()
