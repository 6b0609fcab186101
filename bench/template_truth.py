"""Ground truth for template mining: which source format string wrote each log message.

glance-api writes oslo.log's JSON, whose ``msg`` field is the unformatted format
string: that is the label. For the text logs, every ``LOG.<level>(fmt, ...)`` call
of the installed services and libraries is found by an AST scan, each format string
becomes a regex, and a message is labelled with the one format string (of the module
its logger names, else of that module's package) whose regex matches it in full.
Messages that no format string matches, or that several different ones match, are
left out and counted: the labelled set holds only messages whose origin is certain.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stacktender.logs.record import LogRecord
from stacktender.logs.sources import discover

LOG_METHODS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal"}
TRANSLATORS = {"_", "_LI", "_LW", "_LE", "_LC", "_LD", "gettext", "ngettext"}
# printf-style conversions as the logging module's %-formatting understands them
_PRINTF = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?[#0\- +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?"
    r"(?P<conv>[diouxXeEfFgGcrsa%])"
)
_BRACE = re.compile(r"\{\{|\}\}|\{[^{}]*\}")
_ANY = "\x00ANY\x00"  # a placeholder, before the regex is built
_WILD = {
    "d": r"-?\d+",
    "i": r"-?\d+",
    "u": r"-?\d+",
    "f": r"-?(?:\d+(?:\.\d*)?|inf|nan)",
    "F": r"-?(?:\d+(?:\.\d*)?|INF|NAN)",
}
MIN_LITERAL = 4  # a format with fewer literal letters ("%s", "%s: %s") tells nothing


@dataclass(frozen=True)
class FormatString:
    """One format string in the source, and the regex of the first line it renders."""

    text: str
    module: str
    lineno: int
    regex: re.Pattern[str]
    literal: int
    # the same followed by the ": ExcType: message" summary oslo.log appends to the
    # message of a record logged with an exception (LOG.exception, exc_info=True)
    with_error: re.Pattern[str]


def _pieces(node: ast.expr, env: dict[str, list[ast.expr]]) -> list[list[str]] | None:
    """The texts a message expression can render: a list of alternatives, each a list
    of literal strings and _ANY placeholders (already formatted or not)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [[node.value]]
    if isinstance(node, ast.JoinedStr):
        parts: list[str] = []
        for value in node.values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                parts.append(value.value)
            else:
                parts.append(_ANY)
        return [parts]
    if isinstance(node, ast.Call):
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if name in TRANSLATORS and node.args:
            return _pieces(node.args[0], env)
        if isinstance(func, ast.Attribute) and func.attr == "format":
            inner = _pieces(func.value, env)
            if inner is None:
                return None
            return [_expand(alt, _BRACE, brace=True) for alt in inner]
        return None
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Add):
            left, right = _pieces(node.left, env), _pieces(node.right, env)
            if left is None or right is None:
                return None
            return [a + b for a in left for b in right][:8]
        if isinstance(node.op, ast.Mod):
            inner = _pieces(node.left, env)
            if inner is None:
                return None
            return [_expand(alt, _PRINTF) for alt in inner]
        return None
    if isinstance(node, ast.Name | ast.Attribute):
        key = _ref(node)
        if key is None or key not in env:
            return None
        found: list[list[str]] = []
        for value in env[key]:
            alts = _pieces(value, {})  # one level: no chains of variables
            if alts:
                found.extend(alts)
        return found or None
    return None


def _ref(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in ("self", "cls")
    ):
        return "self." + node.attr
    return None


def _expand(parts: list[str], pattern: re.Pattern[str], brace: bool = False) -> list[str]:
    """Replace the conversions of the literal parts with placeholders (formatting done)."""
    out: list[str] = []
    for part in parts:
        if part == _ANY:
            out.append(part)
            continue
        last = 0
        for match in pattern.finditer(part):
            out.append(part[last : match.start()])
            token = match.group(0)
            if brace and token in ("{{", "}}"):
                out.append(token[0])
            elif not brace and token == "%%":
                out.append("%")
            else:
                out.append(_ANY if brace else "\x00" + match.group("conv") + "\x00")
            last = match.end()
        out.append(part[last:])
    return out


def _shown(part: str) -> str:
    if part == _ANY:
        return "%s"
    if len(part) == 3 and part[0] == part[2] == "\x00":
        return "%" + part[1]
    return part


_ERROR_SUMMARY = r"(?:: [A-Za-z_][\w.]*(?:: .*)?)"


def _regex(parts: list[str], formatted: bool) -> tuple[str, str, int] | None:
    """(format text, regex of its first rendered line, literal letters)."""
    text = "".join(_shown(p) for p in parts)
    if not formatted:
        # logging %-formats the message with the call's arguments
        parts = _expand(parts, _PRINTF)
    chunks: list[str] = []
    literal = 0
    for part in parts:
        if part == _ANY:
            chunks.append("(?:.*)")
        elif len(part) == 3 and part[0] == part[2] == "\x00":
            chunks.append(_WILD.get(part[1], "(?:.*)"))
        else:
            first, newline, _ = part.partition("\n")
            chunks.append(re.escape(first))
            literal += sum(c.isalpha() for c in first)
            if newline:
                break  # the record's message is its first line only
    if literal < MIN_LITERAL:
        return None
    return text, "".join(chunks), literal


def scan_module(path: Path, module: str) -> list[FormatString]:
    """Every format string of LOG.<level>(...) calls in one source file."""
    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except (SyntaxError, ValueError, OSError):
        return []
    module_env: dict[str, list[ast.expr]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                key = _ref(target)
                if key is not None:
                    module_env.setdefault(key, []).append(node.value)
                    if isinstance(target, ast.Name):  # class attribute read as self.x
                        module_env.setdefault("self." + key, []).append(node.value)
    found: list[FormatString] = []
    scopes: list[ast.AST] = [
        n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    seen: set[int] = set()
    for scope in [*scopes, tree]:
        local: dict[str, list[ast.expr]] = dict(module_env)
        if scope is not tree:
            for node in ast.walk(scope):
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        key = _ref(target)
                        if key is not None:
                            local.setdefault(key, [])
                            local[key] = [node.value, *module_env.get(key, [])]
        for node in ast.walk(scope):
            if not isinstance(node, ast.Call) or id(node) in seen:
                continue
            fmt_arg = _log_format_arg(node)
            if fmt_arg is None:
                continue
            seen.add(id(node))
            args, fmt_node = fmt_arg
            alternatives = _pieces(fmt_node, local)
            for parts in alternatives or []:
                formatted = not args or any(p == _ANY for p in parts)
                built = _regex(parts, formatted)
                if built is not None:
                    text, regex, literal = built
                    found.append(
                        FormatString(
                            text,
                            module,
                            node.lineno,
                            re.compile(regex),
                            literal,
                            re.compile(regex + _ERROR_SUMMARY),
                        )
                    )
    return found


def _log_format_arg(node: ast.Call) -> tuple[bool, ast.expr] | None:
    """(has formatting arguments, message expression) of a logging call, else None."""
    func = node.func
    if not isinstance(func, ast.Attribute):
        return None
    owner = func.value
    name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
    if "log" not in name.lower():
        return None
    if func.attr in LOG_METHODS and node.args:
        return len(node.args) > 1, node.args[0]
    if func.attr == "log" and len(node.args) >= 2:
        return len(node.args) > 2, node.args[1]
    return None


@dataclass
class SourceIndex:
    """Format strings of installed packages, scanned lazily by module and package."""

    site: Path
    _modules: dict[str, list[FormatString]] = field(default_factory=dict)
    _packages: dict[str, list[FormatString]] = field(default_factory=dict)

    def module(self, name: str) -> list[FormatString]:
        if name not in self._modules:
            base = self.site.joinpath(*name.split("."))
            path = base.with_suffix(".py")
            if not path.is_file():
                path = base / "__init__.py"
            self._modules[name] = scan_module(path, name) if path.is_file() else []
        return self._modules[name]

    def package(self, name: str) -> list[FormatString]:
        """Every format string under package ``name`` (recursively)."""
        if name not in self._packages:
            root = self.site.joinpath(*name.split("."))
            found: list[FormatString] = []
            if root.is_dir():
                for path in sorted(root.rglob("*.py")):
                    if "tests" in path.relative_to(self.site).parts:
                        continue
                    rel = path.relative_to(self.site).with_suffix("")
                    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
                    found.extend(self.module(".".join(parts)))
            self._packages[name] = found
        return self._packages[name]

    def label(self, logger: str, message: str) -> tuple[str | None, str]:
        """(format text, how) for one message: how is 'module', 'package', 'ambiguous'
        or 'unmatched'."""
        scopes = [("module", self.module(logger))]
        parts = logger.split(".")
        if len(parts) > 1:
            scopes.append(("package", self.package(".".join(parts[:-1]))))
        scopes.append(("package", self.package(parts[0])))
        for how, candidates in scopes:
            # the message as formatted, else with an exception's summary after it
            for with_error in (False, True):
                texts = {
                    f.text
                    for f in candidates
                    if (f.with_error if with_error else f.regex).fullmatch(message)
                }
                if len(texts) == 1:
                    return texts.pop(), how
                if len(texts) > 1:
                    return None, "ambiguous"
        return None, "unmatched"


@dataclass
class LabelledSet:
    """Messages with the format string that wrote each, and what was left out."""

    messages: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    records: list[LogRecord] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, record: LogRecord, message: str, label: str) -> None:
        self.messages.append(message)
        self.labels.append(label)
        self.records.append(record)


def first_line(message: str) -> str:
    return message.split("\n", 1)[0]


def _json_label(record: LogRecord) -> str | None:
    """The ``msg`` of a JSON record when it is a real format string (it has args)."""
    try:
        data = json.loads(record.lines[0])
    except (ValueError, IndexError):
        return None
    msg, args = data.get("msg"), data.get("args")
    if isinstance(msg, str) and args:
        return msg
    return None


def testcloud_records(logs: Path) -> Iterator[LogRecord]:
    """Every parsed record of the testcloud's service logs (not install/console logs)."""
    for source in discover([str(logs)], host="testcloud"):
        name = Path(source.name).name
        if name.endswith(".console.log") or name.startswith("install"):
            continue
        for record in source.records():
            if record.parsed and record.message:
                yield record


def build(records: Iterable[LogRecord], site: Path) -> LabelledSet:
    """Label every record whose format string is certain; count the rest."""
    index = SourceIndex(site)
    out = LabelledSet()
    cache: dict[tuple[str, str], tuple[str | None, str]] = {}
    for record in records:
        message = first_line(record.message)
        out.counts["records"] += 1
        if record.fmt == "json":
            label = _json_label(record)
            if label is not None:
                out.counts["json"] += 1
                out.add(record, message, label)
                continue
        key = (record.logger, message)
        if key not in cache:
            cache[key] = index.label(record.logger, message)
        label, how = cache[key]
        out.counts[how] += 1
        if label is not None:
            out.add(record, message, label)
    out.counts["labelled"] = len(out.messages)
    return out


def grouping_accuracy(truth: list[str], predicted: list[str]) -> float:
    """Grouping accuracy as in the loghub/Drain papers: a message counts as right when
    its predicted group holds exactly the messages of its true group."""
    return exact_groups(truth, predicted)[0]


def exact_groups(truth: list[str], predicted: list[str]) -> tuple[float, int, int]:
    """(grouping accuracy, format strings whose messages form exactly one predicted
    group, format strings)."""
    if not truth:
        return 0.0, 0, 0
    true_groups: dict[str, set[int]] = {}
    pred_groups: dict[str, set[int]] = {}
    for i, (t, p) in enumerate(zip(truth, predicted, strict=True)):
        true_groups.setdefault(t, set()).add(i)
        pred_groups.setdefault(p, set()).add(i)
    right = 0
    groups = 0
    for members in true_groups.values():
        some = next(iter(members))
        if pred_groups[predicted[some]] == members:
            right += len(members)
            groups += 1
    return right / len(truth), groups, len(true_groups)
