"""Option metadata of one release: what ``oslo.config.opts`` declares, as typed data.

The metadata is read by ``runtime/dump_opts.py`` running with the release's own python
(see :mod:`stacktender.upgrade.releases`); this module turns its JSON into
:class:`ReleaseOptions` and answers "what does the name ``[group] name`` mean in this
release": the option itself, a deprecated alias of another, or nothing.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacktender.upgrade.releases import (
    RUNTIME_DIR,
    Release,
    ReleaseError,
    default_cache_dir,
    run_helper,
)

__all__ = ["OptionInfo", "ReleaseOptions", "load_options", "namespace_errors", "normalize_name"]

SCRIPT = "dump_opts.py"
CACHE_FILE = "stacktender-options-{package}-{script}.json"  # script: the dump script's hash


def normalize_name(group: str, name: str) -> tuple[str, str]:
    """A ``(group, name)`` as oslo.config matches it (group case-insensitive but DEFAULT)."""
    group = group if group == "DEFAULT" else group.lower()
    return group, name.strip().replace("-", "_")


@dataclass(frozen=True)
class OptionInfo:
    """One option as a release declares it."""

    group: str
    name: str
    type: str
    default: str | None
    help: str = ""
    choices: tuple[str, ...] | None = None
    deprecated_opts: tuple[tuple[str, str], ...] = ()  # old (group, name) aliases
    deprecated_for_removal: bool = False
    deprecated_reason: str | None = None
    deprecated_since: str | None = None
    namespace: str = ""
    dynamic: bool = False  # added at run time (keystoneauth plugin options)

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.name)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OptionInfo:
        """Build from one entry of dump_opts.py's output."""
        group, name = normalize_name(data["group"], data["name"])
        return cls(
            group=group,
            name=name,
            type=data.get("type") or "",
            default=data.get("default"),
            help=data.get("help") or "",
            choices=tuple(data["choices"]) if data.get("choices") else None,
            deprecated_opts=tuple(
                normalize_name(d["group"], d["name"]) for d in data.get("deprecated_opts", [])
            ),
            deprecated_for_removal=bool(data.get("deprecated_for_removal")),
            deprecated_reason=data.get("deprecated_reason"),
            deprecated_since=data.get("deprecated_since"),
            namespace=data.get("namespace") or "",
            dynamic=bool(data.get("dynamic")),
        )


@dataclass
class ReleaseOptions:
    """Every option one release of a package declares, with its deprecated aliases."""

    package: str
    version: str
    options: dict[tuple[str, str], OptionInfo]
    namespaces: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stubbed: list[str] = field(default_factory=list)  # optional modules missing when read
    aliases: dict[tuple[str, str], OptionInfo] = field(init=False)

    def __post_init__(self) -> None:
        self.aliases = {}
        for opt in self.options.values():
            for old in opt.deprecated_opts:
                # a real option of that name wins over somebody's old alias
                if old not in self.options:
                    self.aliases.setdefault(old, opt)

    @property
    def label(self) -> str:
        return f"{self.package} {self.version}"

    @property
    def groups(self) -> set[str]:
        return {g for g, _ in self.options}

    def get(self, group: str, name: str) -> OptionInfo | None:
        """The option declared under exactly this name, if any."""
        return self.options.get(normalize_name(group, name))

    def resolve(self, group: str, name: str) -> tuple[OptionInfo | None, bool]:
        """The option a file's ``[group] name`` sets, and whether it is a deprecated alias."""
        key = normalize_name(group, name)
        if key in self.options:
            return self.options[key], False
        alias = self.aliases.get(key)
        return alias, alias is not None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReleaseOptions:
        """Build from dump_opts.py's whole output."""
        options = {}
        for item in data["options"]:
            opt = OptionInfo.from_json(item)
            options[opt.key] = opt
        return cls(
            package=data["package"],
            version=data["version"],
            options=options,
            namespaces=list(data.get("namespaces", [])),
            errors=list(data.get("errors", [])),
            stubbed=list(data.get("stubbed", [])),
        )


def namespace_errors(release: Release) -> list[str]:
    """Problems loading the release's option namespaces (the check for a new venv)."""
    try:
        return load_options(release).errors
    except ReleaseError as exc:
        return [str(exc)]


def load_options(release: Release, use_cache: bool = True) -> ReleaseOptions:
    """The option metadata of a release, read with its python (and cached: see _cache_path)."""
    cache = _cache_path(release) if use_cache else None
    if cache is not None and cache.exists():
        try:
            return ReleaseOptions.from_json(json.loads(cache.read_text()))
        except (ValueError, KeyError):
            pass  # a damaged cache is rebuilt below
    out = run_helper(release, SCRIPT, release.package)
    try:
        data = json.loads(out)
    except ValueError as exc:
        raise ReleaseError(
            f"{SCRIPT} in {release.package} {release.version} printed no JSON"
        ) from exc
    if not data.get("options"):
        raise ReleaseError(
            f"{release.package} {release.version} declares no options "
            f"(oslo.config.opts entry points: {data.get('errors') or 'none found'})"
        )
    # a dump with broken namespaces is not kept: a repaired venv must be read again
    if cache is not None and not data.get("errors"):
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(cache)
    return ReleaseOptions.from_json(data)


def _cache_path(release: Release) -> Path | None:
    """Where a release's metadata is kept: beside a cached venv; for an installed python,
    under the release cache, keyed by its path and the last change to its site-packages
    (installing or upgrading any package there changes that directory)."""
    if release.cached:
        return release.python.parent.parent / CACHE_FILE.format(
            package=release.package, script=_script_hash()
        )
    prefix = release.python.parent.parent
    dirs = [*prefix.glob("lib/python3*/site-packages"), *prefix.glob("lib/python3*/dist-packages")]
    if not dirs:
        return None
    stamp = max(d.stat().st_mtime_ns for d in dirs)
    key = hashlib.sha256(f"{release.python}\0{stamp}\0{_script_hash()}".encode()).hexdigest()[:16]
    return default_cache_dir() / "installed" / f"{release.package}-{release.version}-{key}.json"


@functools.cache
def _script_hash() -> str:
    """A new dump_opts.py (a new stacktender) reads every release again."""
    return hashlib.sha256((RUNTIME_DIR / SCRIPT).read_bytes()).hexdigest()[:12]
