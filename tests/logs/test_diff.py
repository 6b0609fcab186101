"""logs diff: new, vanished and rate-changed templates between two sides."""

from __future__ import annotations

import pytest

from stacktender.errors import ConfigError
from stacktender.logs.diff import diff_logs
from stacktender.logs.record import LogRecord


def _records(spec: list[tuple[str, int]], start: float = 0.0, step: float = 1.0):
    out = []
    ts = start
    for message, times in spec:
        for i in range(times):
            out.append(LogRecord(ts, "h", "nova-api", "INFO", "x", 1,
                                 message=message.format(i=i), lines=[""]))  # fmt: skip
            ts += step
    return sorted(out, key=lambda r: r.ts)


BEFORE = _records([("Took {i}.5 seconds to spawn", 60), ("Old deprecated call {i}", 10),
                   ("Steady state {i}", 30)])  # fmt: skip
AFTER = _records([("Took {i}.5 seconds to spawn", 60), ("Brand new failure mode {i}", 7),
                  ("Steady state {i}", 30)], start=1000)  # fmt: skip


def test_new_vanished_and_steady() -> None:
    changes = diff_logs(lambda: BEFORE, lambda: AFTER, before_span=600, after_span=600)
    by_change = {c.change: c for c in changes}
    assert set(by_change) == {"new", "vanished"}
    assert by_change["new"].template.text.startswith("Brand new failure mode")
    assert by_change["new"].after == 7 and by_change["new"].before == 0
    assert by_change["vanished"].template.text.startswith("Old deprecated call")


def test_rate_change_uses_window_lengths() -> None:
    # same count, but the after window is 10x shorter: 10x the rate
    changes = diff_logs(lambda: BEFORE, lambda: AFTER, before_span=6000, after_span=600)
    more = [c for c in changes if c.change == "more"]
    assert {c.template.text.split()[0] for c in more} == {"Took", "Steady"}
    assert more[0].ratio == pytest.approx(10.0)
    row = more[0].as_row()
    assert row["ratio"] == 10.0 and row["change"] == "more"


def test_small_counts_are_not_rate_news() -> None:
    few_before = _records([("Rare thing {i}", 1)])
    few_after = _records([("Rare thing {i}", 3)])
    assert diff_logs(lambda: few_before, lambda: few_after, before_span=60, after_span=60) == []


def test_bad_threshold_and_empty_sides() -> None:
    with pytest.raises(ConfigError, match="threshold"):
        diff_logs(lambda: BEFORE, lambda: AFTER, threshold=1.0)
    with pytest.raises(ConfigError, match="empty"):
        diff_logs(lambda: [], lambda: [])
