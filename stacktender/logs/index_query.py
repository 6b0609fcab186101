"""How a ``--grep`` regex becomes something SQLite can evaluate over the log index.

The index owns no regex engine of its own: ``fts_query`` turns a regex into an FTS5
query every matching text also matches (so FTS5 narrows the rows to those holding
the regex's required words), ``longest_literal`` finds a run of characters every match
contains (so ``instr()`` discards rows at C speed), and ``regexp`` is the ``REGEXP``
function SQLite calls so that Python's ``re`` decides last, exactly as ``LogFilter``
does over files. ``stacktender.logs.index`` combines them into one query plan.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parser  # type: ignore[attr-defined]
from typing import Any

__all__ = ["MIN_WORD", "fts_query", "longest_literal", "regexp"]

_WORD = re.compile(r"[A-Za-z0-9]+")
_C = sre_constants
_REPEATS = {_C.MAX_REPEAT, _C.MIN_REPEAT, _C.POSSESSIVE_REPEAT}
# Assertions after or before which a word must start or end. Not \b: Python's word
# characters and FTS5's differ (a private-use character is a letter to FTS5 only).
_EDGES = {_C.AT_BEGINNING, _C.AT_BEGINNING_STRING, _C.AT_END, _C.AT_END_STRING}
MIN_WORD = 3


@lru_cache(maxsize=16)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def regexp(pattern: str, text: str) -> bool:
    """SQLite's ``text REGEXP pattern``: Python's re.search, as LogFilter applies it."""
    return _compiled(pattern).search(text) is not None


def fts_query(pattern: str) -> str | None:
    """An FTS5 query that every text the regex matches also matches, or None.

    The index splits text into words of letters and digits, case folded. A run of
    literal characters the regex requires contains such words; a word with a known
    separator before it (an ASCII non-alphanumeric character, whitespace, the start
    of a line) begins a word of the text: a prefix query, or a whole-word query when
    a separator follows it too. Words shorter than three characters, and anything
    the regex does not require, are left to ``re`` on the rows FTS5 returns.
    """
    try:
        parsed = sre_parser.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return None
    return _required(list(parsed), False, False)


def longest_literal(pattern: re.Pattern[str]) -> str | None:
    """The longest run of characters every match of a case-sensitive regex contains
    (three or more), or None."""
    if pattern.flags & re.IGNORECASE:
        return None
    try:
        runs = list(_literal_runs(list(sre_parser.parse(pattern.pattern))))
    except (re.error, RecursionError, OverflowError):
        return None
    best = max(runs, key=len, default="")
    return best if len(best) >= MIN_WORD else None


def _literal_runs(items: list[tuple[Any, Any]]) -> Iterator[str]:
    run: list[str] = []
    for op, arg in items:
        if op is _C.LITERAL:
            run.append(chr(arg))
            continue
        if run:
            yield "".join(run)
            run = []
        if op is _C.SUBPATTERN and not arg[1] & _C.SRE_FLAG_IGNORECASE:
            yield from _literal_runs(list(arg[-1]))
        elif op is _C.ATOMIC_GROUP:
            yield from _literal_runs(list(arg))
        elif op in _REPEATS and arg[0] >= 1:
            yield from _literal_runs(list(arg[2]))
    if run:
        yield "".join(run)


def _separator(op: Any, arg: Any) -> bool:
    """Whether what ``op`` matches (or asserts) is a word boundary for FTS5."""
    if op is _C.LITERAL:
        return chr(arg).isascii() and not chr(arg).isalnum()
    if op is _C.AT:
        return arg in _EDGES
    if op is _C.IN:
        return all(
            (kind is _C.CATEGORY and value is _C.CATEGORY_SPACE)
            or (kind is _C.LITERAL and chr(value).isascii() and not chr(value).isalnum())
            for kind, value in arg
        )
    return False


def _required(items: list[tuple[Any, Any]], left: bool, right: bool) -> str | None:
    """The FTS terms ``items`` require; ``left``/``right``: whether a word boundary is
    known to come just before/after them."""
    terms: list[str] = []
    run: list[str] = []
    run_left = before = left
    for position, (op, arg) in enumerate(items):
        if op is _C.LITERAL:
            if not run:
                run_left = before
            run.append(chr(arg))
            before = _separator(op, arg)
            continue
        after = _separator(*items[position + 1]) if position + 1 < len(items) else right
        terms.extend(_words("".join(run), run_left, _separator(op, arg)))
        run.clear()
        sub: str | None = None
        if op is _C.SUBPATTERN:
            sub = _required(list(arg[-1]), before, after)
        elif op is _C.ATOMIC_GROUP:
            sub = _required(list(arg), before, after)
        elif op in _REPEATS and arg[0] >= 1:
            # only the first repetition is sure to follow ``before``, and only the
            # last to precede ``after``: with one required, both are the same one
            once = arg[0] == 1 and arg[1] == 1
            sub = _required(list(arg[2]), before, after if once else False)
        elif op is _C.BRANCH:
            options = [_required(list(option), before, after) for option in arg[1]]
            if options and all(options):
                sub = "(" + " OR ".join(f"({o})" for o in options) + ")"
        if sub:
            terms.append(sub)
        before = _separator(op, arg)
    terms.extend(_words("".join(run), run_left, right))
    return " AND ".join(terms) or None


def _words(run: str, left: bool, right: bool) -> list[str]:
    words = []
    for match in _WORD.finditer(run):
        start, end = match.span()
        # a non-ASCII neighbour may be a letter of the same word: no boundary known
        starts = run[start - 1].isascii() if start else left
        if not starts or end - start < MIN_WORD:
            continue
        ends = run[end].isascii() if end < len(run) else right
        words.append(f'"{match.group().lower()}"' + ("" if ends else "*"))
    return words
