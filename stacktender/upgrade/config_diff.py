"""What a service's config file becomes in another release, and the fixed file.

:func:`config_diff` reads one rendered INI file (Puppet, Ansible, Kolla or a person wrote
it, it does not matter), loads the option metadata of the installed and the target release
(:mod:`stacktender.upgrade.options`) and reports, for each option the file sets, whether it
is deprecated, removed (silently ignored), or renamed/moved to another group or name, or
unknown to both releases; for options the file leaves unset, defaults that changed; and new
options in the file's sections and new groups. :func:`fix_config` writes the updated file,
keeping every comment and the order of the lines: renamed options are renamed in place,
moved options go to the end of their new section, removed ones are commented out, each
with a ``# stacktender:`` note.

The INI reader is our own because configparser drops comments and cannot write a file
back as it was read; it follows oslo.config's parser (``#``/``;`` comments, ``=`` or ``:``,
indented continuation lines, repeated sections).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stacktender.errors import ConfigError
from stacktender.upgrade.options import (
    OptionInfo,
    ReleaseOptions,
    load_options,
    namespace_errors,
    normalize_name,
)
from stacktender.upgrade.releases import (
    Release,
    ReleaseError,
    check_release,
    ensure_release,
    find_installed,
    installed_release,
    package_for,
    resolve_version,
)

__all__ = [
    "COLUMNS",
    "KINDS",
    "TABLE_COLUMNS",
    "ConfigDiff",
    "Finding",
    "IniFile",
    "IniOption",
    "config_diff",
    "default_installed_candidates",
    "diff_options",
    "fix_config",
    "fixed_text",
]

# In report order: what breaks first comes first.
KINDS = ("removed", "renamed", "deprecated", "unknown", "default-changed", "new")
# Finding.as_row's keys; TABLE_COLUMNS are the ones a table shows unless -c asks for more.
COLUMNS = ("kind", "group", "option", "line", "change", "replacement", "installed_default",
           "target_default", "fix", "detail")  # fmt: skip
TABLE_COLUMNS = ("kind", "group", "option", "line", "change", "detail")
NOTE = "# stacktender:"


# --- reading the file ----------------------------------------------------------------


@dataclass(frozen=True)
class IniOption:
    """One ``key = value`` of the file, with its continuation lines."""

    section: str  # as written in the file
    key: str  # as written in the file
    value: str
    lineno: int  # 1-based line of the key
    start: int  # index into IniFile.lines
    end: int  # index after the last continuation line

    @property
    def group(self) -> str:
        return normalize_name(self.section, self.key)[0]

    @property
    def name(self) -> str:
        return normalize_name(self.section, self.key)[1]


@dataclass
class IniFile:
    """An INI file as lines, with the options found in it; nothing is lost on write."""

    path: str
    lines: list[str]
    options: list[IniOption] = field(default_factory=list)
    # normalized group -> (header index, index after the section's last line), per occurrence
    sections: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    @classmethod
    def read(cls, path: str | Path) -> IniFile:
        """Read and parse a file; ConfigError naming the file (and line) when it cannot."""
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            lineno = raw[: exc.start].count(b"\n") + 1
            raise ConfigError(f"{path}:{lineno}: not UTF-8 text") from exc
        return cls.parse(text, str(path))

    @classmethod
    def parse(cls, text: str, path: str = "<string>") -> IniFile:
        """Parse text as oslo.config would; ConfigError ``path:line: why`` when invalid."""
        ini = cls(path=path, lines=text.splitlines(keepends=True))
        section: str | None = None
        header = 0
        pending: tuple[str, str, int] | None = None  # key, value, start of the open option
        value_lines: list[str] = []

        def close(end: int) -> None:
            nonlocal pending
            if pending is not None and section is not None:
                key, _, start = pending
                value = "\n".join(value_lines)
                ini.options.append(IniOption(section, key, value, start + 1, start, end))
            pending = None

        def close_section(end: int) -> None:
            if section is not None:
                group = normalize_name(section, "x")[0]
                ini.sections.setdefault(group, []).append((header, end))

        for index, line in enumerate(ini.lines):
            stripped = line.strip()
            where = f"{path}:{index + 1}"
            if not stripped or stripped[0] in "#;":
                close(index)
                continue
            if line[0] in " \t":
                if pending is None:
                    raise ConfigError(f"{where}: indented line continues no option: {stripped!r}")
                value_lines.append(stripped)
                continue
            close(index)
            if stripped.startswith("["):
                if not stripped.endswith("]") or len(stripped) < 3:
                    raise ConfigError(f"{where}: bad section header {stripped!r}")
                close_section(index)
                section, header = stripped[1:-1].strip(), index
                if not section:
                    raise ConfigError(f"{where}: empty section name")
                continue
            if section is None:
                raise ConfigError(f"{where}: option before the first [section]: {stripped!r}")
            seps = [i for i in (stripped.find("="), stripped.find(":")) if i >= 0]
            if not seps:
                raise ConfigError(
                    f"{where}: not 'key = value', a comment or a [section]: {stripped!r}"
                )
            cut = min(seps)
            key = stripped[:cut].strip()
            if not key:
                raise ConfigError(f"{where}: option without a name: {stripped!r}")
            pending = (key, stripped[cut + 1 :].strip(), index)
            value_lines = [pending[1]]
        close(len(ini.lines))
        close_section(len(ini.lines))
        return ini

    def text(self) -> str:
        return "".join(self.lines)


# --- comparing ---------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One thing about the file that is different in the target release."""

    kind: str  # one of KINDS
    group: str
    option: str
    line: int | None  # where the file sets it (None: unset, or a new option)
    detail: str
    replacement: str | None = None  # "[group] name" the option becomes
    installed_default: str | None = None
    target_default: str | None = None
    fix: str | None = None  # what --fix does: rename, move, comment-out, drop

    @property
    def change(self) -> str:
        """What happens to the option, in a few words (the table's ``change`` column)."""
        if self.kind == "default-changed":
            before, after = _differing(self.installed_default, self.target_default)
            return f"{before} -> {after}"
        if self.kind == "new":
            return "" if self.option == "*" else f"default {_short(self.target_default)}"
        if self.replacement:
            return f"-> {self.replacement}"
        return {"removed": "ignored", "deprecated": "still read", "unknown": "ignored"}[self.kind]

    def as_row(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "group": self.group,
            "option": self.option,
            "line": self.line,
            "change": self.change,
            "replacement": self.replacement,
            "installed_default": self.installed_default,
            "target_default": self.target_default,
            "fix": self.fix,
            "detail": self.detail,
        }


@dataclass
class ConfigDiff:
    """The findings for one file between two releases."""

    path: str
    package: str
    installed: str  # version
    target: str  # version
    findings: list[Finding]
    options_set: int  # options the file sets
    unchanged: int  # of those, fine as they are in the target
    new_elsewhere: int = 0  # new options in groups the file does not use (not listed)
    notes: list[str] = field(default_factory=list)  # how the metadata was read, for people

    def summary(self) -> str:
        """One line: what the file sets and what the target release makes of it."""
        counts = self.counts()
        parts = [f"{n} {kind}" for kind, n in counts.items() if n and kind != "new"]
        if counts["new"] and self.new_elsewhere:
            parts.append(
                f"{counts['new']} new (+{self.new_elsewhere} in groups the file does not use)"
            )
        elif counts["new"]:
            parts.append(f"{counts['new']} new")
        elif self.new_elsewhere:
            parts.append(f"{self.new_elsewhere} new in groups the file does not use")
        return (
            f"{self.path}: {self.options_set} options set, {self.unchanged} unchanged in "
            f"{self.package} {self.target} (from {self.installed})"
            + (f"; {', '.join(parts)}" if parts else "; nothing to change")
        )

    def counts(self) -> dict[str, int]:
        return {kind: sum(1 for f in self.findings if f.kind == kind) for kind in KINDS}

    @property
    def fixable(self) -> list[Finding]:
        return [f for f in self.findings if f.fix]


def _short(value: str | None, width: int = 40) -> str:
    if value is None:
        return "<none>"
    text = repr(value) if value == "" or value != value.strip() else value
    return text if len(text) <= width else text[: width - 3] + "..."


def _differing(before: str | None, after: str | None, width: int = 40) -> tuple[str, str]:
    """Two long values cut to the part that differs (``...,ec2credential`` -> ``...``)."""
    if before is None or after is None or max(len(before), len(after)) <= width:
        return _short(before, width), _short(after, width)
    start = 0
    while start < min(len(before), len(after)) and before[start] == after[start]:
        start += 1
    start = max(0, start - 10)  # a little context before the first difference
    cut_before, cut_after = before[start:], after[start:]
    lead = "..." if start else ""
    return (
        _short(lead + cut_before, width) if cut_before else lead or "''",
        _short(lead + cut_after, width) if cut_after else lead or "''",
    )


def _ref(opt: OptionInfo, section: str, template: str | None) -> str:
    """``[group] name`` of opt; a backend section keeps its own name for template options."""
    return f"[{section}] {opt.name}" if opt.group == template else f"[{opt.group}] {opt.name}"


# Sections a service creates at run time, one per backend, holding a template group's
# options: cinder's enabled_backends (backend_defaults), glance's multi-store
# enabled_backends = name:type and its reserved stores (glance_store).
BACKEND_TEMPLATES = ("backend_defaults", "glance_store")
RESERVED_BACKENDS = ("os_glance_staging_store", "os_glance_tasks_store")


def _backend_sections(ini: IniFile, target: ReleaseOptions) -> dict[str, str]:
    """Backend section -> the group whose options it holds."""
    template = next((t for t in BACKEND_TEMPLATES if t in target.groups), None)
    if template is None:
        return {}
    names = set(RESERVED_BACKENDS) if template == "glance_store" else set()
    for item in ini.options:
        if item.group == "DEFAULT" and item.name == "enabled_backends":
            for part in item.value.replace("\n", ",").split(","):
                if part.strip():
                    names.add(normalize_name(part.split(":")[0].strip(), "x")[0])
    return dict.fromkeys(names, template)


def _why(opt: OptionInfo) -> str:
    parts = []
    if opt.deprecated_since:
        parts.append(f"since {opt.deprecated_since}")
    if opt.deprecated_reason:
        parts.append(" ".join(opt.deprecated_reason.split())[:200])
    return ": ".join(parts)


def diff_options(
    ini: IniFile, installed: ReleaseOptions, target: ReleaseOptions, new_options: bool = True
) -> ConfigDiff:
    """Compare the options ini sets (and leaves unset) between two releases."""
    findings: list[Finding] = []
    set_keys: set[tuple[str, str]] = set()
    unchanged = 0
    tgt = target.label
    backends = _backend_sections(ini, target)
    for item in ini.options:
        group, name = item.group, item.name
        set_keys.add((group, name))
        template = backends.get(group)
        t_opt, t_alias = target.resolve(template or group, name)
        i_opt, _ = installed.resolve(template or group, name)
        for known in (t_opt, i_opt):
            if known is not None and template is None:
                set_keys.add(known.key)
        if t_opt is not None and not t_alias:
            if t_opt.deprecated_for_removal:
                findings.append(
                    Finding(
                        "deprecated",
                        group,
                        name,
                        item.lineno,
                        _join(f"deprecated for removal in {tgt}", _why(t_opt)),
                    )
                )
            else:
                unchanged += 1
            continue
        if t_opt is not None:  # a deprecated name the target still reads
            moved = not _ref(t_opt, group, template).startswith(f"[{group}] ")
            findings.append(
                Finding(
                    "renamed",
                    group,
                    name,
                    item.lineno,
                    _join(
                        f"deprecated name in {tgt} (still read); "
                        f"{'moved' if moved else 'renamed'} to {_ref(t_opt, group, template)}",
                        "itself deprecated for removal" if t_opt.deprecated_for_removal else "",
                    ),
                    replacement=_ref(t_opt, group, template),
                    fix="move" if moved else "rename",
                )
            )
            continue
        if i_opt is None:
            if group not in target.groups and group not in installed.groups:
                why = (
                    f"section [{group}] is declared by neither {installed.label} nor {tgt}: "
                    "a leftover, or a section registered at run time (a backend or driver "
                    "named in another option)"
                )
            else:
                why = (
                    f"declared by neither {installed.label} nor {tgt}: a typo, or an option "
                    "of a driver or plugin that oslo.config.opts does not list"
                )
            findings.append(Finding("unknown", group, name, item.lineno, why))
            continue
        # known to the installed release only: renamed under a name the target dropped, or gone
        renamed = target.get(*i_opt.key) or target.aliases.get(i_opt.key)
        if renamed is not None:
            moved = not _ref(renamed, group, template).startswith(f"[{group}] ")
            findings.append(
                Finding(
                    "renamed",
                    group,
                    name,
                    item.lineno,
                    f"{tgt} no longer reads this name (ignored): "
                    f"{'move' if moved else 'rename'} to {_ref(renamed, group, template)}",
                    replacement=_ref(renamed, group, template),
                    fix="move" if moved else "rename",
                )
            )
            continue
        findings.append(
            Finding(
                "removed",
                group,
                name,
                item.lineno,
                _join(
                    f"not in {tgt}: silently ignored",
                    f"deprecated in {installed.label} {_why(i_opt)}".rstrip()
                    if i_opt.deprecated_for_removal
                    else "",
                ),
                fix="comment-out",
            )
        )
    findings += _default_changes(set_keys, installed, target)
    new_elsewhere = 0
    if new_options:
        listed, new_elsewhere = _new_options(ini, installed, target, set_keys)
        findings += listed
    order = {kind: i for i, kind in enumerate(KINDS)}
    findings.sort(key=lambda f: (order[f.kind], f.line or 0, f.group, f.option))
    return ConfigDiff(
        path=ini.path,
        package=target.package,
        installed=installed.version,
        target=target.version,
        findings=findings,
        options_set=len(ini.options),
        unchanged=unchanged,
        new_elsewhere=new_elsewhere,
    )


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _counterpart(opt: OptionInfo, other: ReleaseOptions) -> OptionInfo | None:
    """The same option in the other release, under its name or one of its old names."""
    same = other.get(*opt.key) or other.aliases.get(opt.key)
    if same is not None:
        return same
    for old in opt.deprecated_opts:
        if (found := other.get(*old)) is not None:
            return found
    return None


def _default_changes(
    set_keys: set[tuple[str, str]], installed: ReleaseOptions, target: ReleaseOptions
) -> list[Finding]:
    out = []
    for opt in target.options.values():
        if opt.dynamic or opt.key in set_keys or any(o in set_keys for o in opt.deprecated_opts):
            continue
        before = _counterpart(opt, installed)
        if before is None or before.default == opt.default:
            continue
        out.append(
            Finding(
                "default-changed",
                opt.group,
                opt.name,
                None,
                opt.help or "",
                installed_default=before.default,
                target_default=opt.default,
            )
        )
    return out


def _new_options(
    ini: IniFile, installed: ReleaseOptions, target: ReleaseOptions, set_keys: set[tuple[str, str]]
) -> tuple[list[Finding], int]:
    """New options of the groups the file uses, one line per new group; and the rest's count."""
    used = set(ini.sections)
    old_groups = installed.groups
    per_new_group: dict[str, list[OptionInfo]] = {}
    out: list[Finding] = []
    elsewhere = 0
    for opt in target.options.values():
        if opt.dynamic or opt.key in set_keys or _counterpart(opt, installed) is not None:
            continue
        if opt.group not in old_groups:
            per_new_group.setdefault(opt.group, []).append(opt)
        elif opt.group in used:
            out.append(
                Finding("new", opt.group, opt.name, None, opt.help, target_default=opt.default)
            )
        else:
            elsewhere += 1
    for group, opts in sorted(per_new_group.items()):
        names = ", ".join(o.name for o in opts[:6]) + (", ..." if len(opts) > 6 else "")
        out.append(
            Finding("new", group, "*", None, f"new group with {len(opts)} option(s): {names}")
        )
    return out, elsewhere


# --- fixing -------------------------------------------------------------------------


def fixed_text(ini: IniFile, diff: ConfigDiff) -> str:
    """The file's text with the fixable findings applied; comments and order kept."""
    label = f"{diff.package} {diff.target}"
    by_line = {f.line: f for f in diff.fixable}
    out: list[list[str]] = [[line] for line in ini.lines]
    appended: dict[str, list[str]] = {}  # group -> lines for the end of that section
    newline = "\n" if not ini.lines or ini.lines[0].endswith("\n") else "\r\n"
    if ini.lines and ini.lines[0].endswith("\r\n"):
        newline = "\r\n"
    # options that will exist under their target name, so a second copy is not created
    present = {(o.group, o.name) for o in ini.options if o.lineno not in by_line}
    for item in ini.options:
        finding = by_line.get(item.lineno)
        if finding is None:
            continue
        block = ini.lines[item.start : item.end]
        if finding.fix == "comment-out":
            out[item.start] = [
                f"{NOTE} removed in {label}, ignored there:{newline}",
                *[_commented(line) for line in block],
            ]
            for i in range(item.start + 1, item.end):
                out[i] = []
            continue
        assert finding.replacement is not None
        group, name = _parse_ref(finding.replacement)
        old = f"[{item.section}] {item.key}"
        if (group, name) in present:
            out[item.start] = [
                f"{NOTE} {old} is {finding.replacement} in {label}, which this "
                f"file sets already:{newline}",
                *[_commented(line) for line in block],
            ]
            for i in range(item.start + 1, item.end):
                out[i] = []
            continue
        present.add((group, name))
        renamed = [_rekey(block[0], item.key, name), *block[1:]]
        if finding.fix == "rename":
            out[item.start] = [f"{NOTE} was {item.key} (renamed in {label}){newline}", *renamed]
        else:  # move to another section
            out[item.start] = [f"{NOTE} {old} moved to {finding.replacement} in {label}{newline}"]
            appended.setdefault(group, []).extend(
                [f"{NOTE} was {old} (moved in {label}){newline}", *_ensure_nl(renamed, newline)]
            )
        for i in range(item.start + 1, item.end):
            out[i] = []
    tail: list[str] = []
    for group, lines in appended.items():
        spans = ini.sections.get(group)
        if spans:
            last = _last_content(ini.lines, *spans[-1])
            out[last] = _ensure_nl(out[last], newline) + lines
        else:
            tail += [newline, f"[{group}]{newline}", *lines]
    text_lines = [line for chunk in out for line in chunk]
    if tail:
        text_lines = _ensure_nl(text_lines, newline) + tail
    return "".join(text_lines)


def _parse_ref(ref: str) -> tuple[str, str]:
    group, _, name = ref.partition("] ")
    return group.lstrip("["), name


def _rekey(line: str, old: str, new: str) -> str:
    at = line.index(old)
    return line[:at] + new + line[at + len(old) :]


def _commented(line: str) -> str:
    return "# " + line if line.strip() else line


def _ensure_nl(lines: list[str], newline: str) -> list[str]:
    if lines and not lines[-1].endswith("\n"):
        return [*lines[:-1], lines[-1] + newline]
    return list(lines)


def _last_content(lines: list[str], start: int, end: int) -> int:
    """Index of the section's last non-blank line (comments count), so a move lands there."""
    for i in range(end - 1, start, -1):
        if lines[i].strip():
            return i
    return start


def fix_config(ini: IniFile, diff: ConfigDiff, output: str | Path | None = None) -> Path:
    """Write the fixed file to output, or over the file itself (keeping ``FILE.orig``)."""
    text = fixed_text(ini, diff)
    dest = Path(output) if output else Path(ini.path)
    if output is None:
        backup = Path(f"{ini.path}.orig")
        backup.write_text(ini.text(), encoding="utf-8")
    try:
        mode = os.stat(dest).st_mode & 0o7777 if dest.exists() else 0o640
        # write beside and rename: a reader never sees half a config file
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except OSError as exc:
        raise ConfigError(f"cannot write {dest}: {exc.strerror or exc}") from exc
    return dest


# --- the whole operation -------------------------------------------------------------


def default_installed_candidates() -> list[Path]:
    """Pythons that may hold the installed release: the testcloud's venv, the system's."""
    from stacktender.config import default_data_dir

    return [default_data_dir() / "testcloud" / "venv", Path("/usr/bin/python3")]


def config_diff(
    service: str,
    config: str | Path,
    to: str,
    from_version: str | None = None,
    installed_python: str | Path | None = None,
    cache_dir: Path | None = None,
    new_options: bool = True,
    progress: Callable[[str], None] | None = None,
) -> tuple[IniFile, ConfigDiff]:
    """Read config and diff its options between the installed release and ``to``."""
    package = package_for(service)
    ini = IniFile.read(config)  # a bad file fails before any venv is built
    installed: Release
    to = resolve_version(package, to)
    from_version = resolve_version(package, from_version) if from_version else None
    for version in (to, from_version):
        if version:  # both known before either is installed
            check_release(package, version, cache_dir)
    if from_version:
        installed = ensure_release(
            package, from_version, cache_dir=cache_dir, check=namespace_errors, progress=progress
        )
    elif installed_python:
        installed = installed_release(package, installed_python)
    else:
        installed = find_installed(package, default_installed_candidates())
    target = ensure_release(
        package, to, cache_dir=cache_dir, check=namespace_errors, progress=progress
    )
    before, after = load_options(installed), load_options(target)
    for release in (before, after):
        # a namespace that failed to load would make all its options look removed
        if release.errors:
            raise ReleaseError(
                f"cannot read all options of {release.label} ({len(release.errors)} namespace(s) "
                f"failed, first: {release.errors[0]})"
            )
    diff = diff_options(ini, before, after, new_options)
    for release in (before, after):
        if release.stubbed:
            # top-level names are enough to tell an operator what was missing
            names = sorted({m.split(".")[0] for m in release.stubbed})
            diff.notes.append(
                f"{release.label}: not installed, stubbed while reading options: "
                + ", ".join(names)
            )
    return ini, diff
