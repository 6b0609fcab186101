"""The parser against what oslo.log writes (its own formatters as the fixture generator),
syslog and journald prefixes, hand-made edge cases, any text at all, and the testcloud's
real logs."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stacktender.logs.parse import LineParser, parse_lines
from stacktender.logs.record import LogRecord, ParseStats

DATA = Path(__file__).parent / "data"
R = "req-6d0c1f4e-2b9a-4c1e-9f8e-0a1b2c3d4e5f"
G = "req-11111111-2222-4333-8444-555555555555"
U, P = "95b567a9164649139eced4cbe84b0970", "a3573ee28d674d48873545c7d46db680"
VM = "0b7f3c4e-9a43-4d26-a8c5-3f2e1d0c9b8a"


def parse(lines: list[str], **kw: Any) -> tuple[list[LogRecord], ParseStats]:
    stats = ParseStats()
    kw.setdefault("tz", UTC)
    records = list(parse_lines(lines, host=kw.pop("host", "h1"), service="svc", stats=stats, **kw))
    return records, stats


def accounted(lines: list[str], records: list[LogRecord], stats: ParseStats) -> None:
    """Every line counted once, and the records hold exactly the input lines."""
    assert stats.lines == len(lines) == stats.records + stats.continuation + stats.unparsed
    assert [line for r in records for line in r.lines] == lines
    assert stats.records == sum(r.parsed for r in records)


# -- oslo.log's own formatters -------------------------------------------------------------


@pytest.mark.testcloud
def test_context_formatter_lines_parse_to_what_was_logged(oslo_written: Any) -> None:
    lines = oslo_written.context_log.read_text().splitlines()
    records, stats = parse(lines)
    accounted(lines, records, stats)
    expected = oslo_written.expected["context"]
    assert stats.unparsed == 0 and len(records) == len(expected)
    for record, want in zip(records, expected, strict=True):
        message = want["message"]
        if want["error_summary"]:
            message += ": " + want["error_summary"]
        assert record.fmt == "oslo" and record.parsed
        assert record.ts == pytest.approx(want["created"], abs=1e-6)
        assert (record.level, record.logger, record.pid) == (
            want["level"], want["logger"], want["pid"],
        )  # fmt: skip
        assert record.request_id == want["request_id"]
        assert record.global_request_id == want["global_request_id"]
        assert (record.user, record.project) == (want["user"], want["project"])
        assert record.instance == want["instance"]
        assert len(record.lines) == want["lines"]
        if want["level"] == "DEBUG":  # logging_debug_format_suffix: funcName path:lineno
            assert re.fullmatch(re.escape(message) + r" log_everything \S+oslo_writer\.py:\d+",
                                record.message)  # fmt: skip
        else:
            assert record.message == message
        if want["exception"]:
            assert record.traceback[0] == "Traceback (most recent call last):"
            assert want["exception"] in record.traceback[-1] or any(
                t.startswith(want["exception"]) for t in record.traceback
            )
        else:
            assert record.traceback == []


@pytest.mark.testcloud
def test_traceback_lines_with_instance_prefix_join_their_record(oslo_written: Any) -> None:
    records, _ = parse(oslo_written.context_log.read_text().splitlines())
    failed = next(r for r in records if r.message.startswith("Build failed"))
    assert failed.instance == VM and failed.global_request_id == G
    assert failed.traceback[-1] == "ValueError: boom"
    # every traceback line repeats "[instance: ...]": it is the prefix, not the text
    assert not any(t.startswith("[instance") for t in failed.traceback)
    assert all(line.startswith("2026-11-25 16:19:07.373") for line in failed.lines)
    chained = next(r for r in records if r.message.startswith("Chained"))
    assert "The above exception was the direct cause of the following exception:" in (
        chained.traceback
    )
    assert chained.traceback[-2:] == ["RuntimeError: two", "lines"]


@pytest.mark.testcloud
def test_json_formatter_lines(oslo_written: Any) -> None:
    lines = oslo_written.json_log.read_text().splitlines()
    records, stats = parse(lines)
    accounted(lines, records, stats)
    expected = oslo_written.expected["json"]
    assert len(records) == len(expected) == stats.records
    for record, want in zip(records, expected, strict=True):
        assert record.fmt == "json"
        assert record.ts == pytest.approx(want["created"], abs=1e-6)
        assert (record.level, record.logger, record.pid) == (
            want["level"], want["logger"], want["pid"],
        )  # fmt: skip
        assert record.message == want["message"]  # the error summary is a field of its own
        assert record.request_id == want["request_id"]
        assert record.global_request_id == want["global_request_id"]
        assert (record.user, record.project) == (want["user"], want["project"])
        assert record.instance == want["instance"]
        if want["exception"]:
            assert record.traceback[0] == "Traceback (most recent call last):"
            assert any(t.startswith(want["exception"]) for t in record.traceback)
        else:
            assert record.traceback == []


@pytest.mark.testcloud
def test_syslog_prefixed_oslo_lines_keep_fields_and_group_tracebacks(oslo_written: Any) -> None:
    text = oslo_written.context_log.read_text().splitlines()
    prefix = "Nov 25 16:19:05 ctl1 nova-compute[4242]: "
    # each record, and each traceback line, is a message of its own; journalctl
    # indents the further lines of a multi-line message
    lines = [
        prefix + line if line.startswith("2026-") else " " * len(prefix) + line for line in text
    ]
    records, stats = parse(lines, year=2026)
    accounted(lines, records, stats)
    plain, _ = parse(text)
    assert [r.fmt for r in records] == ["syslog"] * len(plain)
    assert {(r.host, r.service) for r in records} == {("ctl1", "nova-compute")}
    for got, want in zip(records, plain, strict=True):
        # the oslo.log time stamp inside is more precise than syslog's, and wins
        assert (got.ts, got.level, got.request_id, got.global_request_id, got.instance) == (
            want.ts, want.level, want.request_id, want.global_request_id, want.instance,
        )  # fmt: skip
        assert got.message.split("\n")[0] == want.message.split("\n")[0]
        assert got.traceback == want.traceback
        assert len(got.lines) == len(want.lines)


# -- hand-made lines -----------------------------------------------------------------------


def test_context_variants() -> None:
    lines = [
        "2026-11-25 16:00:00.001 7 INFO a.b [-] no context",
        f"2026-11-25 16:00:00.002 7 INFO a.b [None {R} - - - - - -] periodic",
        f"2026-11-25 16:00:00.003 7 INFO a.b [{G} {R} {U} {P} - default default] chained",
        f"2026-11-25 16:00:00.004 7 INFO a.b [ {R} {U} {P}] empty global id",
        f"2026-11-25 16:00:00.005 7 INFO a.b [{R} {U} {P}] older oslo.log",
        "2026-11-25 16:00:00.006 7 INFO a.b [None req-short None None] short ids",
        f"2026-11-25 16:00:00.007 7 INFO a.b [None {R} {U} {P} - - - -] [instance: {VM}] both",
        "2026-11-25 16:00:00.008 7 INFO a.b [abc] [instance: x y] not a context",
        f"2026-11-25 16:00:00.009 7 INFO a.b [None {R}] no identity",
    ]
    records, stats = parse(lines)
    accounted(lines, records, stats)
    got = [(r.global_request_id, r.request_id, r.user, r.project, r.instance, r.message)
           for r in records]  # fmt: skip
    assert got == [
        (None, None, None, None, None, "no context"),
        (None, R, None, None, None, "periodic"),
        (G, R, U, P, None, "chained"),
        (None, R, U, P, None, "empty global id"),
        (None, R, U, P, None, "older oslo.log"),
        (None, "req-short", None, None, None, "short ids"),
        (None, R, U, P, VM, "both"),
        (None, None, None, None, None, "[abc] [instance: x y] not a context"),
        (None, R, None, None, None, "no identity"),
    ]


def test_time_stamp_variants() -> None:
    base = datetime(2026, 11, 25, 16, 0, 0, tzinfo=UTC).timestamp()
    lines = [
        "2026-11-25 16:00:00.250 7 INFO a default layout",
        "2026-11-25T16:00:00.250 7 INFO a T separator",
        "2026-11-25 16:00:00,250 7 INFO a comma",
        "2026-11-25 16:00:00.250123 7 INFO a microseconds",
        "2026-11-25 16:00:00 7 INFO a no fraction",
        "2026-11-25 18:00:00.250+02:00 7 INFO a offset",
        "2026-11-25T15:00:00.250-0100 7 INFO a offset without colon",
        "2026-11-25 16:00:00.250Z 7 INFO a zulu",
        "2026-11-25 16:00:00.250  7   INFO   a several spaces",
        "2026-11-25 16:00:00.250 7 INFO a",
    ]
    records, stats = parse(lines)
    accounted(lines, records, stats)
    assert stats.unparsed == stats.continuation == 0
    assert [r.ts - base for r in records] == pytest.approx(
        [0.25, 0.25, 0.25, 0.250123, 0.0, 0.25, 0.25, 0.25, 0.25, 0.25]
    )
    assert records[-2].message == "several spaces" and records[-1].message == ""


def test_naive_times_read_in_the_given_zone_through_dst_changes() -> None:
    for zone in ("Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"):
        tz = ZoneInfo(zone)
        moments = [
            datetime(2026, month, day, hour, minute, second)
            for month, day in ((3, 8), (3, 29), (4, 5), (10, 4), (10, 25), (11, 1))
            for hour in (0, 1, 2, 3)
            for minute, second in ((0, 0), (15, 30), (29, 59), (30, 0), (59, 59))
        ]
        lines = [f"{m:%Y-%m-%d %H:%M:%S}.500 1 INFO x m" for m in moments]
        records, _ = parse(lines, tz=tz)
        expected = [m.replace(tzinfo=tz).timestamp() + 0.5 for m in moments]
        assert [r.ts for r in records] == expected, zone


def test_skew_is_added() -> None:
    line = "2026-11-25 16:00:00.000 1 INFO x m"
    (plain,), _ = parse([line])
    (skewed,), _ = parse([line], skew=-2.5)
    assert skewed.ts == plain.ts - 2.5


def test_continuation_lines_message_and_raw_traceback() -> None:
    lines = [
        "2026-11-25 16:00:00.000 1 INFO x multi",
        "  indented second line",
        "third line",
        "2026-11-25 16:00:01.000 1 ERROR x [-] crashed",
        "Traceback (most recent call last):",
        '  File "a.py", line 1, in <module>',
        "ZeroDivisionError: division by zero",
        "2026-11-25 16:00:02.000 1 INFO x next",
    ]
    records, stats = parse(lines)
    accounted(lines, records, stats)
    assert records[0].message == "multi\n  indented second line\nthird line"
    assert records[0].traceback == []
    assert records[1].message == "crashed"
    assert records[1].traceback == lines[4:7]
    assert stats.continuation == 5


def test_error_lines_without_context_only_join_a_record_of_same_time_pid_and_logger() -> None:
    lines = [
        "2026-11-25 16:00:00.000 1 ERROR x [-] failed",
        "2026-11-25 16:00:00.000 1 ERROR x Traceback (most recent call last):",
        "2026-11-25 16:00:00.000 1 ERROR y other logger",
        "2026-11-25 16:00:00.000 2 ERROR x other pid",
        "2026-11-25 16:00:00.001 2 ERROR x other time",
        "2026-11-25 16:00:00.001 2 INFO x [-] not an error",
        "2026-11-25 16:00:00.001 2 ERROR x Traceback: joins the INFO record",
    ]
    records, stats = parse(lines)
    accounted(lines, records, stats)
    assert [len(r.lines) for r in records] == [2, 1, 1, 1, 2]


def test_json_variants() -> None:
    base = {"created": 1795622400.5, "levelname": "ERROR", "name": "glance.api", "process": 9}
    lines = [
        json.dumps({**base, "message": "old", "traceback": ["Traceback ...", "KeyError: 1"]}),
        json.dumps({**base, "message": "new", "traceback": "Traceback ...\nKeyError: 1"}),
        json.dumps(
            {
                **base,
                "context": {
                    "request_id": R,
                    "user_name": "admin",
                    "user": U,
                    "project_id": P,
                    "global_request_id": G,
                },
            }
        ),
        json.dumps({**base, "extra": {"instance": {"nova_object.data": {"uuid": VM}}}}),
        json.dumps({**base, "created": float("nan")}),
        json.dumps({**base, "created": 1e300}),
        json.dumps({"created": 1, "message": "no level"}),
        '{"a": ' + "[" * 100_000 + "}",
        '{"not json',
    ]
    records, stats = parse(lines)
    accounted(lines, records, stats)
    assert [r.traceback for r in records[:2]] == [["Traceback ...", "KeyError: 1"]] * 2
    assert (records[2].request_id, records[2].global_request_id) == (R, G)
    assert (records[2].user, records[2].project) == (U, P)  # ids, like the text format
    assert records[3].instance == VM
    assert stats.records == 4 and stats.continuation == 5  # junk after a record continues it


def test_journald_short_iso_and_devstack_syslog_lines() -> None:
    lines = (DATA / "journald-short-iso.txt").read_text().splitlines()
    records, stats = parse(lines, year=2026)
    accounted(lines, records, stats)
    assert [(r.host, r.service, r.level) for r in records] == [
        ("ctl1", "nova-compute", "INFO"),
        ("ctl1", "nova-compute", "ERROR"),
        ("ctl1", "neutron-server", "WARNING"),
        ("ctl1", "kernel", ""),
        ("cmp1", "nova-compute", "DEBUG"),
    ]
    assert records[1].request_id == R and records[1].instance == VM
    assert records[1].traceback[-1] == "ValueError: boom"
    assert records[0].ts == datetime(2026, 11, 25, 16, 0, 0, tzinfo=UTC).timestamp()
    assert records[2].ts == datetime(2026, 11, 25, 15, 0, 1, 123456, tzinfo=UTC).timestamp()
    assert records[4].ts == datetime(2026, 11, 25, 16, 0, 3, tzinfo=UTC).timestamp()


def test_unknown_formats_are_kept_counted_and_dated_by_their_neighbours() -> None:
    lines = [
        "the tail of a traceback of the rotated file",
        "\x00\x00\x00",
        "2026-11-25 16:00:00.000 1 INFO x first record",
        "2026-13-45 16:00:00.000 1 INFO x no such date",
        "Abc 12 16:00:00 host prog: no such month",
        "<134>Nov 25 16:00:00 host prog: a syslog priority",
        "binary \x00 garbage is never a continuation",
    ]
    records, stats = parse(lines)
    accounted(lines, records, stats)
    assert stats.unparsed == 3 and stats.continuation == 3
    assert [r.parsed for r in records] == [False, False, True, False]
    first = records[2]
    assert all(r.ts == first.ts for r in records)  # before it: its time; after: the last one
    assert first.message.splitlines()[1:] == lines[3:6]


def test_file_of_no_known_format_only_counts_unparsed_lines() -> None:
    lines = ["hello", "world", "", "  indented"]
    records, stats = parse(lines)
    accounted(lines, records, stats)
    assert stats.unparsed == 4 and [r.ts for r in records] == [0.0] * 4


def test_feed_one_line_at_a_time_equals_parse_lines(oslo_written_lines: list[str]) -> None:
    parser = LineParser(host="h1", service="svc", tz=UTC)
    fed = [r for n, line in enumerate(oslo_written_lines, 1) if (r := parser.feed(line, n))]
    last = parser.close()
    fed += [last] if last else []
    records, _ = parse(oslo_written_lines)
    assert [r.as_dict() for r in fed] == [r.as_dict() for r in records]


@pytest.fixture
def oslo_written_lines() -> list[str]:
    return (DATA / "oslo-edge-cases.log").read_text().splitlines()


def test_edge_case_file(oslo_written_lines: list[str]) -> None:
    records, stats = parse(oslo_written_lines)
    accounted(oslo_written_lines, records, stats)
    assert stats.unparsed == 0
    assert {r.level for r in records} >= {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


# -- properties ------------------------------------------------------------------------------

_WORDS = st.sampled_from(
    ["2026-11-25", "16:00:00.123", "16:00:00", "7", "INFO", "ERROR", "nova.x", "[-]", "[None",
     R + "]", "[instance:", VM + "]", "Traceback", "{", "}", '"created":', "Nov", "25", "host",
     "prog[12]:", "\x00", "\ufffd", "", " ", "\t", "[", "]", "T", "+02:00", "é", "\r"]
)  # fmt: skip
_TEXT = st.text(st.characters(blacklist_characters="\n"), max_size=80)
_LINE = st.one_of(_TEXT, st.lists(st.one_of(_WORDS, _TEXT), max_size=12).map(" ".join))


@settings(max_examples=400, deadline=None)
@given(st.lists(_LINE, max_size=30))
def test_any_text_is_accounted_for_and_never_raises(lines: list[str]) -> None:
    records, stats = parse(lines)
    accounted(lines, records, stats)
    assert all(r.ts == r.ts for r in records)  # no NaN, which would break sorting


_CONTEXTS = ["[-] ", f"[None {R} - - - - - -] ", f"[{G} {R} {U} {P} - d d] ", f"[{R} {U}] ",
             f"[None {R} {U} {P}]", "", "[abc] ", f"[None {R}"]  # fmt: skip
_FIELDS = st.fixed_dictionaries(
    {
        "day": st.integers(1, 28),
        "hour": st.integers(0, 23),
        "minute": st.integers(0, 59),
        "second": st.integers(0, 59),
        "ms": st.integers(0, 999),
        "pid": st.integers(1, 99999),
        "level": st.sampled_from(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "AUDIT"]),
        "logger": st.sampled_from(["nova.compute.manager", "a", "oslo_messaging.rpc.server"]),
        "context": st.sampled_from(
            [
                "[-] ",
                f"[None {R} - - - - - -] ",
                f"[{G} {R} {U} {P} - d d] ",
                f"[{R} {U}] ",
                f"[None {R} {U} {P}]",
                "",
                "[abc] ",
                f"[None {R}",
            ]
        ),
        "instance": st.sampled_from(["", f"[instance: {VM}] ", "[instance: ] "]),
        "message": _TEXT,
    }
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_FIELDS, min_size=1, max_size=8))
def test_fast_path_equals_regex_path(fields: list[dict[str, Any]]) -> None:
    """The first line of a second takes the regex path and teaches the caches; the
    same line again takes the fast path. Both must read it the same."""
    lines = [
        f"2026-11-{f['day']:02d} {f['hour']:02d}:{f['minute']:02d}:{f['second']:02d}."
        f"{f['ms']:03d} {f['pid']} {f['level']} {f['logger']} {f['context']}{f['instance']}"
        f"{f['message']}"
        for f in fields
    ]
    for f, line in zip(fields, lines, strict=True):
        # same hour, pid, level and logger, another millisecond: not its traceback head
        warm = f"{line[:20]}{(f['ms'] + 1) % 1000:03d} {f['pid']} {f['level']} {f['logger']} [-] w"
        (slow,), _ = parse([line])
        fast, _ = parse([warm, line])
        assert fast[-1].as_dict() | {"lineno": 1} == slow.as_dict()


# -- the testcloud's real logs -----------------------------------------------------------------


@pytest.mark.testcloud
def test_every_testcloud_log_parses_and_adds_up(testcloud: Any, testcloud_scenario: Any) -> None:
    logs = Path(testcloud.settings.logs)
    files = sorted(logs.glob("*.log"))
    assert len(files) >= 10
    seen_formats: set[str] = set()
    failed_boot: list[LogRecord] = []
    for path in files:
        lines = path.read_text(errors="replace").splitlines()
        records, stats = parse(lines, tz=None)
        accounted(lines, records, stats)
        seen_formats |= {r.fmt for r in records if r.parsed}
        if not path.name.endswith((".console.log", "-manage.log")) and path.name != "install.log":
            assert stats.unparsed == 0, path  # the services' own logs: all oslo.log
        failed_boot += [r for r in records if testcloud_scenario.failed_boot in r.request_ids()]
    assert {"oslo", "json"} <= seen_formats
    assert failed_boot, "the failed boot's global request id is in the logs"
    assert any(r.levelno >= 40 or r.traceback for r in failed_boot)
