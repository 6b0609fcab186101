"""The shipped Prometheus alerting rules, checked and unit-tested by the real ``promtool``."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from support import require_binary

from stacktender.monitoring.prometheus import rules_file, rules_text

HERE = Path(__file__).parent
UNIT_TESTS = HERE / "prometheus" / "rules_test.yml"
RULES = Path(str(rules_file()))


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_binary("promtool"), *args], capture_output=True, text=True, timeout=60
    )


def alerts() -> list[str]:
    doc = yaml.safe_load(rules_text())
    return [rule["alert"] for group in doc["groups"] for rule in group["rules"]]


def test_rules_ship_as_package_data() -> None:
    assert RULES.is_file()
    assert RULES.parts[-3:] == ("data", "prometheus", "stacktender-rules.yml")
    assert alerts() == [
        "StacktenderCheckCritical",
        "StacktenderCheckWarning",
        "StacktenderCheckUnknown",
        "StacktenderCheckNearTimeout",
        "StacktenderScrapeFailing",
        "StacktenderMetricsAbsent",
        "StacktenderSweepsStale",
        "StacktenderTextfileStale",
    ]


def test_promtool_checks_the_rules() -> None:
    proc = promtool("check", "rules", str(RULES))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in proc.stdout


def test_promtool_unit_tests_pass() -> None:
    # The unit-test file names the rules by a path relative to itself: the source tree's.
    assert (
        UNIT_TESTS.parent / "../../../stacktender/data/prometheus/stacktender-rules.yml"
    ).resolve() == RULES.resolve()
    proc = promtool("test", "rules", str(UNIT_TESTS))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    doc = yaml.safe_load(UNIT_TESTS.read_text())
    firing: set[str] = set()
    silent: set[str] = set()
    for test in doc["tests"]:
        for case in test["alert_rule_test"]:
            (firing if case["exp_alerts"] else silent).add(case["alertname"])
    assert firing == set(alerts())
    assert silent == set(alerts())


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("for: 2m", "for: 5m"),  # CRITICAL must page after 2 minutes, not later
        ('up{job="stacktender"} == 0', 'up{job=~".+"} == 0'),  # only our job's scrapes
        ("> 0.8 * stacktender_check_timeout_seconds", "> 0.1 * stacktender_check_timeout_seconds"),
    ],
)
def test_the_unit_tests_catch_a_wrong_rule(tmp_path: Path, old: str, new: str) -> None:
    text = rules_text()
    assert old in text
    (tmp_path / "rules.yml").write_text(text.replace(old, new, 1))
    unit = yaml.safe_load(UNIT_TESTS.read_text())
    unit["rule_files"] = ["rules.yml"]
    (tmp_path / "rules_test.yml").write_text(yaml.safe_dump(unit))
    proc = promtool("test", "rules", str(tmp_path / "rules_test.yml"))
    assert proc.returncode != 0, proc.stdout
    assert "FAILED" in proc.stdout + proc.stderr


def test_export_prometheus_rules(
    cli_run: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    out = tmp_path / "rules.yml"
    proc = cli_run("export", "prometheus-rules", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == rules_text()
    assert promtool("check", "rules", str(out)).returncode == 0
