"""The light text merge against the full one: byte-for-byte the same output (colour
included) and the same counters, on generated sources of every kind of line, on the
edge-case files and on the testcloud's real logs; and `logs merge` takes it only
when nothing is filtered."""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from stacktender.cli.logs import logs
from stacktender.logs.fastmerge import MergedText
from stacktender.logs.merge import MergedLogs
from stacktender.logs.output import write_text
from stacktender.logs.record import ParseStats
from stacktender.logs.sources import LogSource, discover

DATA = Path(__file__).parent / "data"
REQ = "req-6d0c1f4e-2b9a-4c1e-9f8e-0a1b2c3d4e5f"
GREQ = "req-11111111-2222-4333-8444-555555555555"


class _Trickle(io.RawIOBase):
    """A stream that hands out at most ``size`` bytes per read, as a slow pipe does:
    the source then yields many small batches, so records span batch boundaries."""

    def __init__(self, data: bytes, size: int) -> None:
        self._data = data
        self._size = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = min(self._size, len(buffer), len(self._data))
        buffer[:size] = self._data[:size]
        self._data = self._data[size:]
        return size


def source(text: str, *, host: str, service: str, trickle: int = 0) -> LogSource:
    raw = text.encode("utf-8", errors="surrogateescape")

    def opener() -> Any:
        return _Trickle(raw, trickle) if trickle else io.BytesIO(raw)

    return LogSource(name=f"{host}/{service}.log", host=host, service=service, open=opener)


@pytest.fixture(scope="module", params=[False, True], ids=["python", "compiled"])
def compiled(request: pytest.FixtureRequest) -> bool:
    """Each light-path test runs on the Python reader and on the compiled one
    (``_cmerge``), which must give the same bytes."""
    return bool(request.param)


def light_merge(sources: list[LogSource], *, compiled: bool, **options: Any) -> MergedText:
    """The light path, compiled or not; the compiled one reads the in-memory test
    sources itself too (each ``open()`` gives a fresh stream, as a file does)."""
    rereadable = (lambda _source: True) if compiled else None
    return MergedText(sources, compiled=compiled, rereadable=rereadable, **options)


def both(
    make: Callable[[], list[LogSource]], *, colour: bool, compiled: bool, tz: Any = None,
    skews: dict[str, float] | None = None,
) -> tuple[tuple[str, ParseStats], tuple[str, ParseStats]]:  # fmt: skip
    """(output, counters) of the full path and of the light one, on fresh sources."""
    full_out = io.StringIO()
    full = MergedLogs(make(), tz=tz, skews=skews or {})
    write_text(full, full_out, colour=colour)
    light_out = io.StringIO()
    light = light_merge(make(), compiled=compiled, colour=colour, tz=tz, skews=skews or {})
    light.write(light_out)
    return (full_out.getvalue(), full.stats), (light_out.getvalue(), light.stats)


def assert_same(make: Callable[[], list[LogSource]], *, compiled: bool, **options: Any) -> str:
    for colour in (False, True):
        (full, full_stats), (light, light_stats) = both(
            make, colour=colour, compiled=compiled, **options
        )
        assert light == full
        assert light_stats == full_stats
    return full


# -- generated sources -------------------------------------------------------------------------

BASE = datetime(2026, 3, 29, 0, 58, tzinfo=UTC).timestamp()  # a DST change in Europe


def _stamp(offset_ms: int) -> str:
    moment = datetime.fromtimestamp(BASE + offset_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


_KINDS = st.sampled_from(
    [
        "head", "head", "head", "head", "error-repeat", "error-repeat-context", "continuation",
        "traceback", "blank", "digits", "json", "syslog", "journald", "garbage-nul",
        "garbage-replacement", "head-T", "head-offset", "head-bad-hour", "head-no-message",
        "head-microseconds", "instance", "upper", "invalid-utf8",
    ]
)  # fmt: skip


@st.composite
def source_texts(draw: st.DrawFn) -> str:
    """The text of one source: lines of every kind, times mostly rising, with ties,
    small and large steps back, and the first line not always a head."""
    lines: list[str] = []
    clock = draw(st.integers(0, 5000))
    head: tuple[str, int, str] | None = None
    for kind in draw(st.lists(_KINDS, min_size=1, max_size=60)):
        clock += draw(st.sampled_from([0, 0, 1, 7, 500, 70_000, -3, -2_000, 3_600_000]))
        clock = max(clock, 0)
        stamp = _stamp(clock)
        pid = draw(st.sampled_from([101, 102]))
        level = draw(st.sampled_from(["INFO", "DEBUG", "WARNING", "ERROR", "CRITICAL"]))
        logger = draw(st.sampled_from(["nova.compute.manager", "nova", "oslo.messaging"]))
        context = draw(st.sampled_from(["[-]", f"[None {REQ} u p - - -]", f"[{GREQ} {REQ} u p]"]))
        if kind == "head":
            lines.append(f"{stamp} {pid} {level} {logger} {context} message {clock}")
            head = (stamp, pid, logger)
        elif kind in ("error-repeat", "error-repeat-context") and head is not None:
            stamp, pid, logger = head
            tail = (
                f"{context} again"
                if kind.endswith("context")
                else draw(
                    st.sampled_from(["  File x, line 1", "[instance: 0b7f3c4e]   File x", "[x] y"])
                )
            )
            lines.append(f"{stamp} {pid} ERROR {logger} {tail}")
        elif kind == "instance":
            lines.append(f"{stamp} {pid} {level} {logger} [instance: 0b7f3c4e] spawned")
            head = (stamp, pid, logger)
        elif kind == "continuation":
            lines.append("  a continued message line")
        elif kind == "traceback":
            lines.append("Traceback (most recent call last):")
        elif kind == "blank":
            lines.append("")
        elif kind == "digits":
            lines.append("12 items left")
        elif kind == "upper":
            lines.append("Nov 99 not syslog at all")
        elif kind == "json":
            created = BASE + clock / 1000
            lines.append(f'{{"created": {created}, "levelname": "{level}", "message": "j"}}')
        elif kind == "syslog":
            lines.append(f"Mar 29 01:{clock // 60000 % 60:02d}:00 ctl1 nova-api[7]: INFO x y")
        elif kind == "journald":
            lines.append(f"{stamp[:10]}T{stamp[11:19]}+0000 ctl2 nova-compute[9]: WARNING n z")
        elif kind == "garbage-nul":
            lines.append("bin\x00ary")
        elif kind == "invalid-utf8":
            lines.append("bad \udcff byte")  # b"\xff" once encoded with surrogateescape
        elif kind == "garbage-replacement":
            lines.append("bad \ufffd byte")
        elif kind == "head-T":
            lines.append(f"{stamp[:10]}T{stamp[11:]} {pid} {level} {logger} [-] t-layout")
        elif kind == "head-offset":
            lines.append(f"{stamp}+02:00 {pid} {level} {logger} [-] with offset")
        elif kind == "head-bad-hour":
            lines.append(f"{stamp[:11]}25{stamp[13:]} {pid} {level} {logger} [-] bad hour")
        elif kind == "head-no-message":
            lines.append(f"{stamp} {pid} {level} {logger}")
        elif kind == "head-microseconds":
            lines.append(f"{stamp}{clock % 1000:03d} {pid} {level} {logger} [-] microseconds")
    return "\n".join(lines) + draw(st.sampled_from(["\n", ""]))


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(source_texts(), min_size=1, max_size=4),
    trickle=st.sampled_from([0, 0, 1, 97, 300]),
    zone=st.sampled_from([None, "Europe/Berlin"]),
)
def test_light_merge_equals_full_merge(
    texts: list[str], trickle: int, zone: str | None, compiled: bool
) -> None:
    def make() -> list[LogSource]:
        return [
            source(text, host=f"h{i % 2}", service=f"svc{i}", trickle=trickle)
            for i, text in enumerate(texts)
        ]

    assert_same(make, compiled=compiled, tz=ZoneInfo(zone) if zone else None, skews={"h1": 0.25})


def test_records_far_out_of_order_across_many_batches(compiled: bool) -> None:
    """Steps back larger than the reordering window, in a source read in small
    pieces: both paths order them the same (not necessarily by time)."""
    lines = []
    for n in range(3000):
        clock = n * 10 - (20_000 if n % 401 == 0 else 0)
        lines.append(f"{_stamp(max(clock, 0))} 1 INFO nova [-] line {n}")
        if n % 97 == 0:
            lines.append("Traceback (most recent call last):")
    text = "\n".join(lines) + "\n"

    def make() -> list[LogSource]:
        return [
            source(text, host="a", service="s", trickle=4000),
            source(text, host="b", service=""),
        ]

    output = assert_same(make, compiled=compiled)
    assert output.count("\n") == 2 * len(lines)
    assert "b - " in output  # a source without a service is labelled "-"
    light = light_merge(make(), compiled=compiled)
    light.write(io.StringIO())
    assert light.compiled_sources == (2 if compiled else 0)  # no source handed back


def test_prefixed_traceback_lines_stay_with_their_error_record(compiled: bool) -> None:
    """ERROR lines repeating their head's time, pid and logger join it (counted as
    continuations), also once that origin has been seen and cached; with a context
    they start a record of their own."""
    lines = []
    for n in range(3):
        stamp = _stamp(n * 1000)
        lines += [
            f"{stamp} 7 ERROR nova.compute.manager [{GREQ} {REQ} u p] failed {n}",
            f"{stamp} 7 ERROR nova.compute.manager [instance: 0b7f3c4e] Traceback (most",
            f"{stamp} 7 ERROR nova.compute.manager [instance: 0b7f3c4e]   File x",
            f"{stamp} 7 ERROR nova.compute.manager [-] a record of its own",
        ]
    text = "\n".join(lines) + "\n"
    assert_same(lambda: [source(text, host="h", service="s")], compiled=compiled)
    light = light_merge([source(text, host="h", service="s")], compiled=compiled)
    light.write(io.StringIO())
    assert (light.stats.records, light.stats.continuation) == (6, 6)


def test_a_record_in_progress_when_the_full_parser_takes_over(compiled: bool) -> None:
    """A JSON line in the middle of a long traceback record read in small batches:
    the full parser re-reads the record and goes on; the counters add up once."""
    head = f"{_stamp(0)} 5 ERROR nova [-] failed"
    body = [f"{_stamp(0)} 5 ERROR nova   File {n}" for n in range(50)] + ["  raw line"] * 50
    json_line = f'{{"created": {BASE + 1}, "levelname": "INFO", "message": "j"}}'
    after = [f"{_stamp(2000 + n)} 5 INFO nova [-] after {n}" for n in range(100)]
    text = "\n".join([head, *body, json_line, *after]) + "\n"

    def make() -> list[LogSource]:
        return [source(text, host="h", service="s", trickle=512)]

    assert_same(make, compiled=compiled)
    stats = light_merge(make(), compiled=compiled).stats
    light = light_merge(make(), compiled=compiled)
    light.write(io.StringIO())
    assert light.stats.lines == 1 + len(body) + 1 + len(after)
    assert light.stats.records == 1 + 1 + len(after)
    assert stats.lines == 0  # counters fill as the sources are read


# -- files: the edge cases and the testcloud ---------------------------------------------------


def test_edge_case_files(tmp_path: Path, compiled: bool) -> None:
    for name in ("oslo-edge-cases.log", "journald-short-iso.txt"):
        shutil.copy(DATA / name, tmp_path / name)
    (tmp_path / "missing.log").symlink_to(tmp_path / "nowhere")
    output = assert_same(
        lambda: discover([str(tmp_path), str(tmp_path / "gone.log")], host="x"), compiled=compiled
    )
    assert "x oslo-edge-cases " in output


@pytest.mark.testcloud
def test_testcloud_logs(
    testcloud: Any, testcloud_scenario: Any, tmp_path: Path, compiled: bool
) -> None:
    # a copy: the services keep writing to their logs while the two paths read them
    logs = Path(testcloud.settings.logs)
    for path in logs.glob("*.log"):
        shutil.copy(path, tmp_path / path.name)
    output = assert_same(lambda: discover([str(tmp_path)], host="tc"), compiled=compiled)
    assert output.count("\n") > 1000
    assert testcloud_scenario.failed_boot in output  # its records, tracebacks and all


# -- the command -------------------------------------------------------------------------------


def _cli(*args: str) -> Any:
    return CliRunner().invoke(logs, ["merge", *args], catch_exceptions=False)


def test_merge_command_prints_the_full_paths_output_and_note(tmp_path: Path) -> None:
    for name in ("oslo-edge-cases.log", "journald-short-iso.txt"):
        shutil.copy(DATA / name, tmp_path / name)
    (tmp_path / "odd.log").write_text("no format here\n2026-11-25 16:00:00.500 1 INFO x [-] y\n")
    for colour in ("--no-color", "--color"):
        result = _cli(colour, "--hostname", "h", str(tmp_path))
        expected = io.StringIO()
        write_text(
            MergedLogs(discover([str(tmp_path)], host="h")), expected, colour=colour == "--color"
        )
        assert result.stdout == expected.getvalue()
        assert "stacktender: note: " in result.stderr
        assert "lines in no known format" in result.stderr


def test_a_filter_or_json_keeps_the_full_path(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text(
        f"{_stamp(0)} 1 INFO nova [-] kept\n{_stamp(1)} 1 DEBUG nova [-] dropped\n"
    )
    filtered = _cli("--no-color", "-l", "INFO", "--hostname", "h", str(tmp_path))
    assert filtered.stdout == f"h a {_stamp(0)} 1 INFO nova [-] kept\n"
    as_json = _cli("-f", "json", "--hostname", "h", str(tmp_path))
    assert as_json.stdout.count('"message"') == 2
