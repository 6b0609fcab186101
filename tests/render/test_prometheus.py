"""The Prometheus exposition text, read back with the reference parser (prometheus_client)."""

from __future__ import annotations

import math
import subprocess
from collections.abc import Callable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from stacktender.render.prometheus import CONTENT_TYPE, render_prometheus
from stacktender.results import CheckResult, PerfData, Status

AWKWARD = 'db "main" \\ primary\nsecond line'


def parse(text: str) -> dict[str, Any]:
    """Families by name; each family's samples as (labels, value)."""
    return {
        family.name: (family.type, [(s.labels, s.value) for s in family.samples])
        for family in text_string_to_metric_families(text)
    }


def test_labels_with_quotes_backslashes_and_newlines_survive() -> None:
    result = CheckResult(
        name=AWKWARD,
        check="mysql-replication",
        status=Status.CRITICAL,
        summary="x",
        perfdata=[PerfData('lag "s"\\', 3.5, unit="s\n", warning="10", critical="~:20")],
        duration=0.25,
        timeout=7.5,
    )
    families = parse(render_prometheus([result]))
    base = {"name": AWKWARD, "check": "mysql-replication"}
    assert families["stacktender_check_status"] == ("gauge", [(base, 2.0)])
    assert families["stacktender_check_duration_seconds"] == ("gauge", [(base, 0.25)])
    assert families["stacktender_check_timeout_seconds"] == ("gauge", [(base, 7.5)])
    perf = {**base, "label": 'lag "s"\\', "unit": "s\n"}
    assert families["stacktender_check_value"] == ("gauge", [(perf, 3.5)])
    assert families["stacktender_check_threshold"] == (
        "gauge",
        [({**perf, "level": "warning"}, 10.0), ({**perf, "level": "critical"}, 20.0)],
    )


def test_nan_and_infinities() -> None:
    result = CheckResult(
        name="n",
        status=Status.OK,
        summary="x",
        perfdata=[PerfData("nan", math.nan), PerfData("up", math.inf), PerfData("down", -math.inf)],
    )
    text = render_prometheus([result])
    assert 'label="nan",unit=""} NaN' in text
    assert 'label="up",unit=""} +Inf' in text
    assert 'label="down",unit=""} -Inf' in text
    values = {s[0]["label"]: s[1] for s in parse(text)["stacktender_check_value"][1]}
    assert math.isnan(values["nan"])
    assert values["up"] == math.inf and values["down"] == -math.inf


def test_numbers_keep_their_value() -> None:
    perf = [PerfData(f"v{i}", v) for i, v in enumerate([0.1, 1e-9, 12345678.5, 3.0, -2.0, 1e20])]
    result = CheckResult(name="n", status=Status.UNKNOWN, summary="x", perfdata=perf)
    samples = parse(render_prometheus([result]))["stacktender_check_value"][1]
    assert [v for _, v in samples] == [0.1, 1e-9, 12345678.5, 3.0, -2.0, 1e20]


def test_only_plain_upper_bounds_become_threshold_samples() -> None:
    ranges = ["80", "~:80", "20:", "@10:20", "10:20", "1-2", "e", None]
    perf = [PerfData(f"p{i}", 1, warning=r) for i, r in enumerate(ranges)]
    result = CheckResult(name="n", status=Status.OK, summary="x", perfdata=perf)
    thresholds = parse(render_prometheus([result]))["stacktender_check_threshold"][1]
    assert [(labels["label"], value) for labels, value in thresholds] == [
        ("p0", 80.0),
        ("p1", 80.0),
    ]


def test_no_results_is_valid_and_empty() -> None:
    assert parse(render_prometheus([])) == {}


def test_timeouts_only_for_results_that_have_one() -> None:
    results = [
        CheckResult(name="a", status=Status.OK, summary="x"),
        CheckResult(name="b", status=Status.OK, summary="x", timeout=3),
    ]
    samples = parse(render_prometheus(results))
    assert samples["stacktender_check_timeout_seconds"][1] == [({"name": "b", "check": "b"}, 3.0)]


def test_app_renderer_has_the_exposition_content_type(make_app: Callable[..., Any]) -> None:
    app = make_app()
    assert app.renderers["prometheus"].content_type == CONTENT_TYPE
    assert "version=0.0.4" in CONTENT_TYPE


def test_sweep_output_for_the_textfile_collector(
    cli_run: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Any
) -> None:
    config = f"""
timeout: 4
sweep:
  - check: disk-free
    name: 'tmp "disk"'
    options: {{path: {tmp_path}}}
    critical: {{free: "101:"}}
"""
    proc = cli_run("sweep", "-f", "prometheus", config=config)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith("\n") and not proc.stdout.endswith("\n\n")
    families = parse(proc.stdout)
    base = {"name": 'tmp "disk"', "check": "disk-free"}
    assert families["stacktender_check_status"][1] == [(base, 2.0)]
    assert families["stacktender_check_timeout_seconds"][1] == [(base, 4.0)]
    [(labels, free)] = families["stacktender_check_value"][1]
    assert labels == {**base, "label": "free", "unit": "%"} and 0 <= free <= 100
