"""The ``stacktender logs`` commands as a user runs them: real files, real processes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

NOVA = """\
2026-11-25 10:00:00.100 101 INFO nova.api.openstack.requestlog [None req-aaaaaaaa-0000-0000-0000-000000000001 u1 p1 - - default default] 127.0.0.1 "POST /v2.1/servers" status: 202
2026-11-25 10:00:00.900 202 ERROR nova.compute.manager [req-1111 req-aaaaaaaa-0000-0000-0000-000000000002 u1 p1 - - default default] [instance: 6f0c2d9e-0000-4000-8000-000000000001] Build of instance failed: ValueError: boom
2026-11-25 10:00:00.900 202 ERROR nova.compute.manager [instance: 6f0c2d9e-0000-4000-8000-000000000001] Traceback (most recent call last):
2026-11-25 10:00:00.900 202 ERROR nova.compute.manager [instance: 6f0c2d9e-0000-4000-8000-000000000001]   File "/usr/lib/python3/dist-packages/nova/virt/fake.py", line 10, in spawn
2026-11-25 10:00:00.900 202 ERROR nova.compute.manager [instance: 6f0c2d9e-0000-4000-8000-000000000001]     raise ValueError("boom")
2026-11-25 10:00:00.900 202 ERROR nova.compute.manager [instance: 6f0c2d9e-0000-4000-8000-000000000001] ValueError: boom
2026-11-25 10:00:02.000 101 DEBUG nova.api.openstack.wsgi [-] Calling method index
"""  # noqa: E501
NEUTRON = """\
2026-11-25 10:00:00.500 303 INFO neutron.wsgi [req-1111 req-bbbbbbbb-0000-0000-0000-000000000003 u1 p1 - - -] 127.0.0.1 "POST /v2.0/ports" status: 201
2026-11-25 10:00:01.500 303 WARNING neutron.db.agents [-] Agent heartbeat late
"""  # noqa: E501


@pytest.fixture
def logdir(tmp_path: Path) -> Path:
    root = tmp_path / "logs"
    (root / "nova").mkdir(parents=True)
    (root / "nova" / "nova-compute.log").write_text(NOVA)
    with gzip.open(root / "neutron-server.log.1.gz", "wt") as handle:
        handle.write(NEUTRON)
    return root


def _run(cli_run: Any, *args: str, **kw: Any) -> Any:
    return cli_run("logs", *args, env={"TZ": "UTC"}, **kw)


def test_merge_orders_labels_and_groups_tracebacks(cli_run: Any, logdir: Path) -> None:
    out = _run(cli_run, "merge", str(logdir), "--hostname", "ctl1")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 9
    assert [line.split()[1] for line in lines] == [
        "nova-compute", "neutron-server", "nova-compute", "nova-compute", "nova-compute",
        "nova-compute", "nova-compute", "neutron-server", "nova-compute",
    ]  # fmt: skip
    assert all(line.startswith("ctl1 ") for line in lines)
    assert "\x1b[" not in out.stdout  # piped: no colour
    assert out.stderr == ""


def test_merge_filters_and_json(cli_run: Any, logdir: Path) -> None:
    out = _run(cli_run, "merge", str(logdir), "-l", "WARNING", "-f", "json")
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(r["service"], r["level"]) for r in records] == [
        ("nova-compute", "ERROR"),
        ("neutron-server", "WARNING"),
    ]
    assert records[0]["instance"] == "6f0c2d9e-0000-4000-8000-000000000001"
    assert records[0]["global_request_id"] == "req-1111"
    assert records[0]["traceback"][-1] == "ValueError: boom"
    assert records[0]["time"] == "2026-11-25T10:00:00.900000Z"
    only = _run(cli_run, "merge", str(logdir), "--service", "neutron-*", "--grep", "heartbeat")
    assert only.stdout.count("\n") == 1 and "heartbeat" in only.stdout
    window = _run(cli_run, "merge", str(logdir), "--since", "2026-11-25T10:00:01",
                  "--until", "2026-11-25T10:00:01.9")  # fmt: skip
    assert window.stdout.count("\n") == 1 and "heartbeat" in window.stdout


def test_merge_reads_stdin_and_reports_unparsed(cli_run: Any) -> None:
    # a line before any record is in no known format; one after a record continues it
    out = _run(cli_run, "merge", "-", input="not a log line\n" + NEUTRON + "more text\n")
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert lines[0].endswith("stdin not a log line")
    assert lines[-1].endswith("stdin more text")
    assert "1 lines in no known format" in out.stderr
    piped = _run(cli_run, "merge", input=NEUTRON)  # no '-': a pipe on stdin is read, as grep does
    assert piped.returncode == 0 and piped.stdout.count("\n") == 2


def test_skew_moves_one_host(cli_run: Any, tmp_path: Path) -> None:
    for host, text in (("a", NOVA), ("b", NEUTRON)):
        (tmp_path / "c" / host).mkdir(parents=True)
        (tmp_path / "c" / host / "svc.log").write_text(text)
    plain = _run(cli_run, "merge", "--by-host", str(tmp_path / "c"))
    assert plain.stdout.splitlines()[1].startswith("b ")
    skewed = _run(cli_run, "merge", "--by-host", str(tmp_path / "c"), "--skew", "b=10")
    assert [line.split()[0] for line in skewed.stdout.splitlines()][-2:] == ["b", "b"]


def test_trace_errors_templates_on_files(cli_run: Any, logdir: Path) -> None:
    out = _run(cli_run, "trace", "req-1111", str(logdir))
    assert out.returncode == 0, out.stderr
    assert "nova-compute" in out.stdout and "neutron-server" in out.stdout
    assert "failed in nova-compute" in out.stdout and "ValueError: boom" in out.stdout
    as_json = json.loads(_run(cli_run, "trace", "req-1111", str(logdir), "-f", "json").stdout)
    assert as_json["failed"]["service"] == "nova-compute"
    assert len(as_json["hops"]) == 2
    errors = json.loads(_run(cli_run, "errors", str(logdir), "-f", "json").stdout)
    assert errors[0]["exception"] == "ValueError"
    assert errors[0]["frame"] == "nova/virt/fake.py:spawn"
    templates = _run(cli_run, "templates", str(logdir), "-f", "value", "-c", "count")
    assert sum(int(n) for n in templates.stdout.split()) == 5


def test_bad_input_is_one_line_error(cli_run: Any, logdir: Path) -> None:
    missing = _run(cli_run, "trace", "req-nope", str(logdir))
    assert missing.returncode == 1
    assert missing.stderr.strip() == "stacktender: error: req-nope appears in none of the logs read"
    for args, message in (
        (("merge",), "no logs to read"),
        (("merge", str(logdir), "-l", "LOUD"), "unknown level 'LOUD'"),
        (("merge", str(logdir), "--since", "yesterday-ish"), "bad time"),
        (("merge", str(logdir), "--grep", "("), "bad --grep pattern"),
        (("merge", str(logdir), "--tz", "Mars/Olympus"), "unknown time zone"),
        (("merge", str(logdir), "--skew", "b=soon"), "bad --skew"),
        (("diff", str(logdir)), "--before PATH and --after PATH"),
    ):
        result = _run(cli_run, *args)
        assert result.returncode != 0, args
        assert "Traceback" not in result.stderr
        assert message in result.stderr, (args, result.stderr)


def test_missing_file_is_reported_and_others_still_read(cli_run: Any, logdir: Path) -> None:
    out = _run(cli_run, "merge", str(logdir), str(logdir / "gone.log"))
    assert out.returncode == 0
    assert out.stdout.count("\n") == 9
    assert "1 reading problems" in out.stderr and "gone.log" in out.stderr


def test_diff_split_on_one_set(cli_run: Any, logdir: Path) -> None:
    out = _run(cli_run, "diff", str(logdir), "--split", "2026-11-25T10:00:01", "-f", "json")
    assert out.returncode == 0, out.stderr
    changes = {(c["change"], c["template"].split()[0]) for c in json.loads(out.stdout)}
    assert ("new", "Agent") in changes and ("vanished", "Build") in changes


@pytest.mark.testcloud
def test_trace_of_the_scenario_failed_boot(
    cli_run: Any, testcloud: Any, testcloud_scenario: Any
) -> None:
    out = _run(cli_run, "trace", testcloud_scenario.failed_boot, str(testcloud.settings.logs))
    assert out.returncode == 0, out.stderr
    assert "failed in nova-conductor" in out.stdout
    assert "No valid host" in out.stdout


def test_index_then_every_command_reads_it(cli_run: Any, logdir: Path, tmp_path: Path) -> None:
    env_index = str(tmp_path / "logs.db")
    first = _run(cli_run, "index", str(logdir), "--index-file", env_index)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("indexed 2 sources (5 records)")
    again = _run(cli_run, "index", str(logdir), "--index-file", env_index)
    assert "indexed 0 sources" in again.stdout and "skipped 2 unchanged" in again.stdout
    from_files = _run(cli_run, "merge", str(logdir))
    from_index = _run(cli_run, "merge", "--index-file", env_index)
    assert from_index.stdout == from_files.stdout
    traced = json.loads(
        _run(cli_run, "trace", "req-1111", "--index-file", env_index, "-f", "json").stdout
    )
    assert traced["failed"]["service"] == "nova-compute"
    errors = json.loads(_run(cli_run, "errors", "--index-file", env_index, "-f", "json").stdout)
    assert errors[0]["exception"] == "ValueError"
    stats = json.loads(
        _run(cli_run, "index", "--stats", "--index-file", env_index, "-f", "json").stdout
    )
    assert stats["records"] == 5 and stats["sources"] == 2


def test_index_missing_or_foreign_file_is_one_line_error(cli_run: Any, tmp_path: Path) -> None:
    missing = _run(cli_run, "merge", "--index-file", str(tmp_path / "none.db"))
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert missing.stderr.startswith("stacktender: error:")
    foreign = tmp_path / "foreign.db"
    foreign.write_bytes(b"this is not sqlite at all" * 100)
    bad = _run(cli_run, "trace", "req-1", "--index-file", str(foreign))
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("stacktender: error:")
    both = _run(cli_run, "merge", str(tmp_path), "--index-file", str(foreign))
    assert "either files or the index" in both.stderr
