"""Message templates: mask the variable parts of OpenStack log messages and group them.

:func:`mask` replaces what varies between two messages of one format string (ids,
addresses, paths, numbers, ...) by a placeholder such as ``<UUID>``. A
:class:`TemplateMiner` groups messages in three steps, each for fewer messages:

1. a dict lookup of the message without its digits and hex letters (one
   ``str.translate``): a message seen before with other ids or numbers;
2. the masked text (one regex pass), for a message with a new shape;
3. a Drain-like comparison with the templates of the same number of tokens, so a
   value the masking missed (a plugin name, a state) still joins its template as
   ``<*>``; and a text after ``"key:"`` whose length varies (an exception's message)
   makes one template ``"key: <*>"``.

:func:`mine` runs a miner over records or messages and returns the templates sorted
by count.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from stacktender.logs.record import LogRecord

__all__ = [
    "PLACEHOLDERS",
    "Template",
    "TemplateMiner",
    "mask",
    "mine",
    "template_id",
    "without_error_summary",
]

_HEX = "[0-9a-fA-F]"
_H4 = f"{_HEX}{{1,4}}"
_IPV4 = r"\d{1,3}(?:\.\d{1,3}){3}"
_IPV6 = (
    rf"(?:{_H4}:){{7}}{_H4}"
    rf"|(?:{_H4}(?::{_H4}){{0,6}})?::(?:(?:{_H4}:){{0,5}}(?:{_IPV4}|{_H4}))?"
)
# One alternation, tried left to right at each position: the first kind that matches
# wins, so the specific kinds (a request id, a UUID) come before the general ones (a
# hex string, a number). Lookarounds keep a kind from matching inside a longer word.
_KINDS: list[tuple[str, str]] = [
    (
        "IP",
        rf"(?<![\w.:])(?:{_IPV4}(?:/\d{{1,2}})?(?::\d{{1,5}})?"
        rf"|\[(?:{_IPV6})\](?::\d{{1,5}})?|(?:{_IPV6})(?:/\d{{1,3}})?)(?![\w:]|\.\d)",
    ),
    # Python and JSON reprs of lists and dicts (one level of nesting): their length varies
    ("LIST", r"\[(?=[\]'\"\d{(<-])(?:[^\[\]\n]|\[[^\[\]\n]*\])*\]"),
    ("DICT", r"\{(?=[}'\"])(?:[^{}\n]|\{[^{}\n]*\})*\}"),
    ("REQ", rf"\breq-{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}\b"),
    (
        "UUID",
        rf"(?<![0-9a-fA-F])(?:{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"
        rf"|{_HEX}{{32}})(?![\w])",
    ),
    ("URL", r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s\"'<>]+(?<![.,;:)])"),
    ("MAC", rf"(?<![\w:])(?:{_HEX}{{2}}[:-]){{5}}{_HEX}{{2}}(?![\w:])"),
    # a path, query string included, without the punctuation of the sentence after it
    ("PATH", r"(?<![\w.:/~\-])(?:~|\.{1,2})?/[^\s\"'<>\[\]{}]*(?<![.,;:)])"),
    ("HEX", rf"(?<![\w\-])(?:0[xX]{_HEX}+|(?=[a-fA-F]*\d){_HEX}{{8,}})(?![\w\-])"),
    ("NUM", r"(?<![\w.])[-+]?\d+(?:[.,:]\d+)*(?:[eE][-+]?\d+)?(?:[a-zA-Z%µ]{1,3})?(?!\w|\.\w)"),
    # a word with a digit in it: a host, flavor or server name, a version
    ("*", r"(?<![\w.\-])[\w.\-]*\d[\w.\-]*(?<![.\-])"),
]
# Every kind starts a word and holds a digit, unless it is a list, dict, path or URL:
# this guard rejects the other words at their first character, which makes the pass
# several times faster.
_MASK = re.compile(
    r"(?<![\w.])(?=[\[{/~.]|[a-zA-Z][\w+.\-]*://|\S*?\d)(?:"
    + "|".join(f"(?P<{k if k != '*' else 'ANY'}>{p})" for k, p in _KINDS)
    + ")"
)
_TOKEN = {"ANY": "<*>", **{k: f"<{k}>" for k, _ in _KINDS if k != "*"}}
PLACEHOLDERS: frozenset[str] = frozenset(_TOKEN.values())
WILDCARD = "<*>"
# The message without its digits and hex letters is the key of the first lookup: a
# fresh UUID, address or number gives the same key, so most messages need no regex at
# all. The price: two texts that differ only in those characters ("a" and "b") share
# a key, and so the template of the first one seen.
_BLANK = str.maketrans(dict.fromkeys("0123456789abcdefABCDEF"))


# ": ExcType" or ": package.module.ExcType", then ": message" or the end of the line
_SUMMARY = re.compile(r": ((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*)(?=: |$)")
_EXCEPTION_NAME = re.compile(r"(?:Error|Exception|Failure|Timeout|Exit|Interrupt)(?:_Remote)?$")


def without_error_summary(message: str) -> str:
    """The message without the ``: ExcType: text`` oslo.log appends to a record logged
    at WARNING or above while an exception is handled (the template is the same with
    or without it; ``logs errors`` is where exceptions are grouped)."""
    if ": " not in message:
        return message
    for match in _SUMMARY.finditer(message):
        name = match.group(1)
        qualified = "." in name and message.startswith(": ", match.end())
        if qualified or _EXCEPTION_NAME.search(name):
            return message[: match.start()]
    return message


def _replace(match: re.Match[str]) -> str:
    return _TOKEN[match.lastgroup]  # type: ignore[index]


def mask(message: str) -> str:
    """The message with its variable parts replaced by placeholders (see PLACEHOLDERS)."""
    return _MASK.sub(_replace, message)


@dataclass(slots=True, eq=False)
class Template:
    """A group of messages of one shape, and what is known of where they came from.

    ``text`` may still generalise while a miner runs (a word becomes ``<*>``), and
    ``id`` follows it: it is a hash of the text, so two miners that saw the same
    messages give a template the same id. A template can also be absorbed by a tail
    template (``"HTTP exception thrown: <*>"``) that takes over its counts; the
    miner's :meth:`TemplateMiner.templates` and :meth:`TemplateMiner.match` only
    ever give live ones.
    """

    tokens: list[str]
    count: int = 0
    first_seen: float | None = None
    last_seen: float | None = None
    example: str = ""
    levels: dict[str, int] = field(default_factory=dict)
    services: dict[str, int] = field(default_factory=dict)
    hosts: dict[str, int] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return " ".join(self.tokens)

    @property
    def id(self) -> str:
        return template_id(self.text)

    def absorb(self, other: Template) -> None:
        """Take over the counts of a template that this one replaces."""
        self.count += other.count
        for mine, theirs in (
            (self.levels, other.levels),
            (self.services, other.services),
            (self.hosts, other.hosts),
        ):
            for key, value in theirs.items():
                mine[key] = mine.get(key, 0) + value
        if other.first_seen is not None and (
            self.first_seen is None or other.first_seen < self.first_seen
        ):
            self.first_seen = other.first_seen
        if other.last_seen is not None and (
            self.last_seen is None or other.last_seen > self.last_seen
        ):
            self.last_seen = other.last_seen

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form, times in epoch seconds."""
        return {
            "id": self.id,
            "template": self.text,
            "count": self.count,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "example": self.example,
            "levels": dict(self.levels),
            "services": dict(self.services),
            "hosts": dict(self.hosts),
        }


def template_id(text: str) -> str:
    """Stable id of a template text: the first 12 hex digits of its SHA-1."""
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:12]


_EDGE = ".,;:!?()[]{}'\""
_HTTP_METHODS = frozenset(("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"))


def _value_like(token: str, before: str) -> bool:
    """Could this word be a value rather than part of the format string's text?

    Placeholders, HTTP methods, a word after ``key:``, ``key=`` or a snake_case key,
    and words that are not plain prose (``router_route``, ``data-plane-status``,
    ``'flat'``, ``MySQLImpl``) are. ``spawn`` and ``destroy`` are not: formats that
    differ by a verb stay apart; nor is ``RPC``: all-capitals words are most often
    acronyms of the text.
    """
    if token in PLACEHOLDERS or token in _HTTP_METHODS or before.endswith((":", "=")):
        return True
    if "_" in before and before.replace("_", "").isalpha():
        return True  # after a snake_case key: "vm_state active", "task_state None"
    core = token.strip(_EDGE)
    if not core or token[0] in "'\"[{(":
        return True
    if not core.isalpha():
        return True
    return not core.isupper() and core[1:] != core[1:].lower()


class TemplateMiner:
    """Groups messages into templates, incrementally.

    ``similarity`` is the share of a message's tokens that must equal a template's
    (ignoring the template's ``<*>``) for the message to join it.
    """

    def __init__(self, similarity: float = 0.5, max_aliases: int = 1_000_000) -> None:
        if not 0 < similarity <= 1:
            raise ValueError("similarity must be in (0, 1]")
        self.similarity = similarity
        self.max_aliases = max_aliases
        # the message with digits and hex letters blanked -> its template: the one
        # lookup almost every message needs (a new UUID or number leaves it the same)
        self._fast: dict[str, Template] = {}
        # masked text -> its template, for messages the first lookup has not seen
        self._exact: dict[str, Template] = {}
        # (length, position, token) -> the templates with that token there (an ordered
        # set): a template a message may join shares tokens with it at enough positions
        self._index: dict[tuple[int, int, str], dict[Template, None]] = {}
        # "HTTP exception thrown:" -> the templates whose text starts so; a tail
        # template once two of them differ in length
        self._by_prefix: dict[tuple[str, ...], list[Template]] = {}
        self._tails: dict[tuple[str, ...], Template] = {}
        self._templates: list[Template] = []

    def add(
        self,
        message: str,
        *,
        ts: float | None = None,
        level: str = "",
        service: str = "",
        host: str = "",
    ) -> Template:
        """Count one message (its first line) and return its template."""
        newline = message.find("\n")
        if newline >= 0:
            message = message[:newline]
        key = message.translate(_BLANK)
        template = self._fast.get(key)
        if template is None:
            template = self._slow(message, key)
        template.count += 1
        if ts is not None:
            if template.first_seen is None or ts < template.first_seen:
                template.first_seen = ts
            if template.last_seen is None or ts > template.last_seen:
                template.last_seen = ts
        if level:
            template.levels[level] = template.levels.get(level, 0) + 1
        if service:
            template.services[service] = template.services.get(service, 0) + 1
        if host:
            template.hosts[host] = template.hosts.get(host, 0) + 1
        return template

    def add_record(self, record: LogRecord) -> Template:
        """Count one record's message with its time, level, service and host."""
        return self.add(
            record.message,
            ts=record.ts,
            level=record.level,
            service=record.service,
            host=record.host,
        )

    def add_messages(self, messages: Iterable[str]) -> None:
        """Count plain messages (no times or sources): the fastest way in."""
        fast = self._fast.get
        slow = self._slow
        blank = _BLANK
        for message in messages:
            if "\n" in message:
                message = message[: message.index("\n")]
            key = message.translate(blank)
            template = fast(key)
            if template is None:
                template = slow(message, key)
            template.count += 1

    def match(self, message: str) -> Template | None:
        """The template a message belongs to, without learning from it."""
        message = message.split("\n", 1)[0]
        template = self._fast.get(message.translate(_BLANK))
        if template is not None:
            return template
        masked = mask(without_error_summary(message))
        template = self._exact.get(masked)
        if template is not None:
            return template
        tokens = masked.split()
        prefix = _prefix(tokens)
        if prefix is not None and prefix in self._tails:
            return self._tails[prefix]
        found = self._closest(tokens)
        return found[0] if found is not None else None

    def counts(self, messages: Iterable[str]) -> dict[str, int]:
        """How many of these messages fall in each known template, by template id,
        without learning: mine two windows with one miner, then count each (``logs
        diff``). Messages no template takes are counted under ``""``."""
        out: dict[str, int] = {}
        ids: dict[int, str] = {}
        for message in messages:
            template = self.match(message)
            if template is None:
                key = ""
            else:
                key = ids.get(id(template)) or ids.setdefault(id(template), template.id)
            out[key] = out.get(key, 0) + 1
        return out

    def templates(self) -> list[Template]:
        """Every template, the most frequent first."""
        return sorted(self._templates, key=lambda t: (-t.count, t.text))

    def __len__(self) -> int:
        return len(self._templates)

    def _slow(self, message: str, key: str) -> Template:
        """Mask a message the first lookup did not know, find or make its template."""
        masked = _MASK.sub(_replace, without_error_summary(message))
        template = self._exact.get(masked)
        if template is None:
            template = self._learn(masked, message)
        if len(self._fast) >= self.max_aliases:
            # Constant memory on endless input: forget the aliases, keep the templates.
            self._fast.clear()
        self._fast[key] = template
        return template

    def _learn(self, masked: str, message: str) -> Template:
        tokens = masked.split()
        prefix = _prefix(tokens)
        template = self._tails.get(prefix) if prefix is not None else None
        if template is None:
            found = self._closest(tokens)
            if found is not None:
                template, positions = found
                self._generalize(template, positions, tokens)
            elif prefix is not None and any(
                len(t.tokens) != len(tokens) for t in self._by_prefix.get(prefix, ())
            ):
                template = self._tail(prefix, message)
            else:
                template = Template(tokens, example=message)
                self._templates.append(template)
                self._indexed(template, True)
                if prefix is not None:
                    self._by_prefix.setdefault(prefix, []).append(template)
        if len(self._exact) >= self.max_aliases:
            self._exact.clear()
        self._exact[masked] = template
        return template

    def _tail(self, prefix: tuple[str, ...], message: str) -> Template:
        """One template "prefix: <*>" instead of those of the prefix: what follows the
        colon varies in length (an exception's message, a description)."""
        absorbed = self._by_prefix.pop(prefix)
        tail = Template([*prefix, WILDCARD], example=absorbed[0].example or message)
        for old in absorbed:
            tail.absorb(old)
            self._indexed(old, False)
            self._templates.remove(old)
        gone = {id(t) for t in absorbed}
        for aliases in (self._fast, self._exact):
            for key, value in aliases.items():
                if id(value) in gone:
                    aliases[key] = tail
        self._templates.append(tail)
        self._tails[prefix] = tail
        return tail

    def _indexed(self, template: Template, present: bool) -> None:
        length = len(template.tokens)
        for i, token in enumerate(template.tokens):
            if token != WILDCARD:
                self._index_one((length, i, token), template, present)

    def _index_one(self, key: tuple[int, int, str], template: Template, present: bool) -> None:
        if present:
            self._index.setdefault(key, {})[template] = None
        else:
            members = self._index.get(key)
            if members is not None:
                members.pop(template, None)
                if not members:
                    del self._index[key]

    def _generalize(self, template: Template, positions: list[int], tokens: list[str]) -> None:
        length = len(tokens)
        for i in positions:
            old = template.tokens[i]
            self._index_one((length, i, old), template, False)
            template.tokens[i] = new = _generalize(old, tokens[i])
            if new != WILDCARD:
                self._index_one((length, i, new), template, True)

    def _candidates(self, tokens: list[str]) -> list[Template]:
        """The templates sharing a token at the same position with the message at one
        of the n - ceil(similarity * n) + 1 positions with the fewest templates: any
        template it may join is among them (it shares ceil(similarity * n) tokens)."""
        length = len(tokens)
        index = self._index
        lists = [index.get((length, i, token)) for i, token in enumerate(tokens)]
        need = length - math.ceil(self.similarity * length) + 1
        chosen = sorted((m for m in lists if m), key=len)[:need]
        if len(chosen) == 1:
            return list(chosen[0])
        found: dict[Template, None] = {}
        for members in chosen:
            found.update(members)
        return list(found)

    def _closest(self, tokens: list[str]) -> tuple[Template, list[int]] | None:
        """The best template of the same length this message may join, and the
        positions that must become ``<*>``."""
        candidates = self._candidates(tokens)
        if not candidates:
            return None
        last = len(tokens) - 1
        best: tuple[Template, list[int]] | None = None
        best_same = -1
        for template in candidates:
            same = 0
            differ: list[int] = []
            before = ""
            for i, (have, new) in enumerate(zip(template.tokens, tokens, strict=True)):
                if have == new:
                    if have != WILDCARD:
                        same += 1
                elif have != WILDCARD:
                    if not (
                        (i == last and have[-1] not in ".!" and new[-1] not in ".!")
                        or _value_like(have, before)
                        or _value_like(new, before)
                    ):
                        break
                    differ.append(i)
                before = have
            else:
                if same > best_same and same >= self.similarity * len(tokens):
                    best, best_same = (template, differ), same
        return best


_LEAD = "'\"([{"
_TRAIL = "'\")]}.,;:!?"


def _generalize(have: str, new: str) -> str:
    """``<*>`` in place of two different tokens, keeping the quotes, brackets and
    punctuation they share: ``'flat'`` and ``'vxlan'`` give ``'<*>'``."""
    lead = 0
    while lead < min(len(have), len(new)) and have[lead] == new[lead] and have[lead] in _LEAD:
        lead += 1
    trail = 0
    while (
        trail < min(len(have), len(new)) - lead
        and have[-1 - trail] == new[-1 - trail]
        and have[-1 - trail] in _TRAIL
    ):
        trail += 1
    return have[:lead] + WILDCARD + have[len(have) - trail :]


def _prefix(tokens: list[str]) -> tuple[str, ...] | None:
    """The tokens up to the first that ends with a colon, if at least two words with
    letters come before the tail: ("HTTP", "exception", "thrown:")."""
    for i in range(1, min(len(tokens) - 1, 12)):
        if tokens[i][-1] == ":":
            words = [t for t in tokens[: i + 1] if t not in PLACEHOLDERS and t[0].isalpha()]
            return tuple(tokens[: i + 1]) if len(words) >= 2 else None
    return None


def mine(items: Iterable[LogRecord] | Iterable[str], similarity: float = 0.5) -> list[Template]:
    """Templates of records (with times, levels, services, hosts) or of plain messages,
    the most frequent first."""
    miner = TemplateMiner(similarity=similarity)
    add_record = miner.add_record
    for item in items:
        if isinstance(item, str):
            miner.add(item)
        else:
            add_record(item)
    return miner.templates()
