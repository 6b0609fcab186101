"""The k-way merge, the reordering window and MergedLogs: sorted, nothing lost, nothing
duplicated, stable for ties, and filtering before the merge equals filtering after it."""

from __future__ import annotations

import gc
import gzip
import io
import random
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stacktender.logs.filters import LogFilter
from stacktender.logs.merge import MergedLogs, merge, reordered
from stacktender.logs.record import LogRecord
from stacktender.logs.sources import LogSource, discover


def rec(ts: float, stream: int, position: int) -> LogRecord:
    return LogRecord(ts, f"h{stream}", "svc", lines=[f"{stream}:{position}"], lineno=position)


def origin(record: LogRecord) -> tuple[str, int]:
    return (record.host, record.lineno)


# times from a small set, so that ties are frequent
_TIMES = st.lists(st.integers(0, 40).map(lambda t: t / 4), max_size=300)


@settings(max_examples=300, deadline=None)
@given(st.lists(_TIMES, max_size=12), st.integers(1, 50))
def test_merge_of_sorted_streams_is_sorted_complete_and_stable(
    streams: list[list[float]], chunk: int
) -> None:
    inputs = [
        [rec(t, s, p) for p, t in enumerate(sorted(times))] for s, times in enumerate(streams)
    ]
    out = list(merge([iter(records) for records in inputs], chunk=chunk))
    # stable: by time, ties in stream order, then in their order within the stream
    expected = sorted(
        (r for records in inputs for r in records), key=lambda r: (r.ts, int(r.host[1:]), r.lineno)
    )
    assert [origin(r) for r in out] == [origin(r) for r in expected]


@settings(max_examples=200, deadline=None)
@given(st.lists(_TIMES, max_size=8))
def test_merge_of_unsorted_streams_loses_and_duplicates_nothing(streams: list[list[float]]) -> None:
    inputs = [[rec(t, s, p) for p, t in enumerate(times)] for s, times in enumerate(streams)]
    out = list(merge(inputs, chunk=7))
    assert sorted(origin(r) for r in out) == sorted(origin(r) for rs in inputs for r in rs)


@settings(max_examples=300, deadline=None)
@given(_TIMES, st.integers(0, 80), st.randoms(use_true_random=False))
def test_reordered_sorts_records_displaced_within_the_window(
    times: list[float], window: int, rng: random.Random
) -> None:
    ordered = [rec(t, 0, p) for p, t in enumerate(sorted(times))]
    shuffled = list(ordered)
    # move records by at most `window` positions: shuffle within blocks of that size
    step = max(window, 1)
    for start in range(0, len(shuffled), step):
        block = shuffled[start : start + step]
        rng.shuffle(block)
        shuffled[start : start + step] = block
    if window == 0:
        shuffled = ordered
    out = list(reordered(shuffled, window=window))
    assert [r.ts for r in out] == sorted(times)
    assert sorted(origin(r) for r in out) == sorted(origin(r) for r in ordered)
    # stable: equal times keep the order they came in
    for a, b in pairwise(out):
        if a.ts == b.ts:
            assert shuffled.index(a) < shuffled.index(b)


def test_reordered_leaves_far_displaced_records_but_loses_none() -> None:
    records = [rec(float(t), 0, t) for t in range(1000)]
    records.insert(0, records.pop())  # displaced by 999 positions
    out = list(reordered(records, window=64))
    assert len(out) == 1000 and sorted(origin(r) for r in out) == sorted(map(origin, records))


# -- MergedLogs over real sources -------------------------------------------------------------

_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]
_REQS = [f"req-{n:08d}-0000-4000-8000-000000000000" for n in range(4)]


def _line(rng: random.Random, second: float, service: str) -> str:
    level = rng.choice(_LEVELS)
    context = rng.choice(["[-]", *(f"[None {r} u{n} p{n} - - -]" for n, r in enumerate(_REQS))])
    whole, ms = int(second), int(second * 1000) % 1000
    stamp = f"2026-11-25 16:{whole // 60:02d}:{whole % 60:02d}.{ms:03d}"
    text = f"{stamp} 7 {level} {service} {context} {rng.choice(['boot', 'resize', 'delete'])}\n"
    if level == "ERROR" and rng.random() < 0.5:
        prefix = f"{stamp} 7 ERROR {service} "
        text += f"{prefix}Traceback (most recent call last):\n{prefix}ValueError: x\n"
    if rng.random() < 0.1:
        text += "an unparsed continuation\n"
    return text


def _sources(seed: int, count: int) -> list[LogSource]:
    rng = random.Random(seed)
    sources = []
    for n in range(count):
        second, text = rng.random() * 10, []
        for _ in range(rng.randrange(0, 400)):
            # mostly in order, now and then a few milliseconds late
            second += rng.choice([0.0, 0.001, 0.004, 0.25, -0.003])
            text.append(_line(rng, max(second, 0.0), f"s{n % 3}"))
        data = "".join(text).encode()
        if n % 2:
            data = gzip.compress(data)
        sources.append(
            LogSource(
                name=f"s{n}.log",
                host=f"h{n % 2}",
                service=f"svc{n % 3}",
                open=lambda data=data: io.BytesIO(data),
            )
        )
    return sources


_FILTERS = st.builds(
    LogFilter,
    min_level=st.sampled_from([None, "INFO", "ERROR"]),
    services=st.sampled_from([(), ("svc1",), ("svc*",), ("nope",)]),
    hosts=st.sampled_from([(), ("h0",)]),
    since=st.sampled_from([None, 1795622402.0]),
    until=st.sampled_from([None, 1795622406.0]),
    request_id=st.sampled_from([None, *_REQS[:2]]),
    user=st.sampled_from([None, "u1"]),
    regex=st.sampled_from([None, "boot|delete", "Traceback"]),
)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 7), _FILTERS)
def test_merged_logs_with_a_filter_equal_the_filtered_merge(
    seed: int, count: int, log_filter: LogFilter
) -> None:
    everything = MergedLogs(_sources(seed, count))
    merged = list(everything)
    filtered = list(MergedLogs(_sources(seed, count), log_filter))
    assert [(r.source, r.lineno) for r in filtered] == [
        (r.source, r.lineno) for r in merged if log_filter(r)
    ]
    assert [r.ts for r in merged] == sorted(r.ts for r in merged)
    stats = everything.stats
    assert stats.lines == stats.records + stats.continuation + stats.unparsed
    assert sum(len(r.lines) for r in merged) == stats.lines


def test_merged_logs_of_files_across_hosts_with_skew(tmp_path: Path) -> None:
    for host in ("ctl1", "cmp1"):
        folder = tmp_path / host
        folder.mkdir()
        (folder / "nova.log").write_text(
            "".join(
                f"2026-11-25 16:00:{n // 1000:02d}.{n % 1000:03d} 1 INFO nova [-] {host} {n}\n"
                for n in range(3000)
            )
        )
    sources = lambda: discover([str(tmp_path)], by_host=True)  # noqa: E731
    tied = list(MergedLogs(sources()))
    assert len(tied) == 6000
    # the same times: ties come out in the order of the sources (cmp1 sorts first)
    assert [r.host for r in tied[:4]] == ["cmp1", "ctl1", "cmp1", "ctl1"]
    # cmp1's clock runs half a millisecond behind: corrected, its lines come second
    late = list(MergedLogs(sources(), skews={"cmp1": 0.0005}))
    assert [r.host for r in late[:4]] == ["ctl1", "cmp1", "ctl1", "cmp1"]
    assert late[1].ts - late[0].ts == pytest.approx(0.0005, abs=1e-6)
    early = list(MergedLogs(sources(), skews={"cmp1": -0.0005}))
    assert [r.host for r in early[:4]] == ["cmp1", "ctl1", "cmp1", "ctl1"]
    assert early[1].ts - early[0].ts == pytest.approx(0.0005, abs=1e-6)


def test_gc_threshold_is_restored_after_a_merge_even_when_abandoned() -> None:
    before = gc.get_threshold()
    sources: Callable[[], list[LogSource]] = lambda: _sources(1, 3)  # noqa: E731
    first, second = iter(MergedLogs(sources())), iter(MergedLogs(sources()))
    next(first)
    next(second)
    assert gc.get_threshold()[0] >= 10_000
    del first
    assert gc.get_threshold()[0] >= 10_000  # the second merge still runs
    list(second)
    assert gc.get_threshold() == before


def test_a_syslog_file_is_not_skipped_for_its_name(memory_source: Callable[..., LogSource]) -> None:
    """Service and host filters skip a file whose name rules it out, unless it turns out
    to hold records of other hosts and services, as syslog and journal files do."""
    syslog = memory_source(
        "Nov 25 16:00:00 cmp1 nova-compute[7]: INFO nova.compute.manager [-] started\n"
        "Nov 25 16:00:01 cmp1 kernel: eth0 up\n",
        name="syslog", host="collector", service="syslog",
    )  # fmt: skip
    plain = memory_source("2026-11-25 16:00:00.000 1 INFO k [-] m\n", service="keystone")
    kept = list(MergedLogs([syslog, plain], LogFilter(services=("nova-*",), hosts=("cmp1",))))
    assert [(r.host, r.service, r.message) for r in kept] == [("cmp1", "nova-compute", "started")]
    assert plain.stats.lines == 1  # looked at, then skipped
