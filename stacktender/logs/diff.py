"""Compare two sets of logs by message template: ``logs diff``.

Before and after an upgrade, yesterday and today, one host and another: the two
sides are mined with one miner (so a template has the same id on both sides),
then each side's records are counted per template. A template only after is new,
one only before vanished, and one whose rate per minute changed by more than the
threshold is reported with the ratio. Rates, not counts, because the two windows
rarely have the same length.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from stacktender.errors import ConfigError
from stacktender.logs.record import LogRecord
from stacktender.logs.templates import Template, TemplateMiner

Records = Callable[[], Iterable[LogRecord]]


@dataclass
class TemplateChange:
    """One template whose presence or rate differs between the two sides."""

    change: str  # new | vanished | more | less
    template: Template
    before: int
    after: int
    rate_before: float
    rate_after: float

    @property
    def ratio(self) -> float | None:
        if not self.rate_before or not self.rate_after:
            return None
        return self.rate_after / self.rate_before

    def as_row(self) -> dict[str, Any]:
        ratio = self.ratio
        return {
            "change": self.change,
            "before": self.before,
            "after": self.after,
            "per_min_before": round(self.rate_before, 3),
            "per_min_after": round(self.rate_after, 3),
            "ratio": None if ratio is None else round(ratio, 2),
            "services": ",".join(sorted(self.template.services)),
            "template": self.template.text,
            "id": self.template.id,
        }


@dataclass
class Side:
    """Per-template counts of one side and the minutes it covers."""

    counts: Counter[str]
    minutes: float
    records: int


def _count(records: Iterable[LogRecord], miner: TemplateMiner, span: float | None) -> Side:
    counts: Counter[str] = Counter()
    first = last = None
    total = 0
    for record in records:
        if not record.parsed:
            continue
        template = miner.match(record.message)
        if template is not None:
            counts[template.id] += 1
        total += 1
        first = record.ts if first is None else first
        last = record.ts
    seconds = span if span else (last - first if first is not None and last is not None else 0)
    return Side(counts, max(seconds, 60.0) / 60.0, total)


def diff_logs(
    before: Records,
    after: Records,
    *,
    threshold: float = 2.0,
    min_count: int = 5,
    before_span: float | None = None,
    after_span: float | None = None,
) -> list[TemplateChange]:
    """Templates new, vanished, or with a rate ``threshold`` times higher or lower.

    ``before``/``after`` return fresh iterables (each is read twice). A side's span
    is its time window in seconds when known (``--since/--until``), else the time
    between its first and last record (at least a minute). Rate changes need
    ``min_count`` occurrences on one side, so that 1 versus 3 is not news.
    """
    if threshold <= 1.0:
        raise ConfigError(f"threshold must be above 1 (got {threshold}): 2 means twice as often")
    miner = TemplateMiner()
    for side in (before, after):
        for record in side():
            if record.parsed:
                miner.add_record(record)
    old = _count(before(), miner, before_span)
    new = _count(after(), miner, after_span)
    if not old.records and not new.records:
        raise ConfigError("both sides of the diff are empty: check the paths and time windows")
    by_id = {t.id: t for t in miner.templates()}
    changes: list[TemplateChange] = []
    for template_id in set(old.counts) | set(new.counts):
        count_before, count_after = old.counts[template_id], new.counts[template_id]
        rate_before, rate_after = count_before / old.minutes, count_after / new.minutes
        if count_before == 0:
            change = "new"
        elif count_after == 0:
            change = "vanished"
        elif max(count_before, count_after) < min_count:
            continue
        elif rate_after >= rate_before * threshold:
            change = "more"
        elif rate_after * threshold <= rate_before:
            change = "less"
        else:
            continue
        changes.append(
            TemplateChange(
                change, by_id[template_id], count_before, count_after, rate_before, rate_after
            )
        )
    order = {"new": 0, "vanished": 1, "more": 2, "less": 3}
    return sorted(changes, key=lambda c: (order[c.change], -(c.after + c.before), c.template.text))
