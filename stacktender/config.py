"""stacktender.yaml: targets, per-check thresholds and options, the sweep list, the store.

Found at ``--config``, ``$STACKTENDER_CONFIG`` or ``~/.config/stacktender/stacktender.yaml``;
with none, every check targets its service's standard local address. Errors name the
file and line. OpenStack credentials are not here: they come from ``clouds.yaml``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stacktender.errors import ConfigError

__all__ = ["Config", "SweepEntry", "default_config_path", "default_data_dir", "load_config"]

TOP_LEVEL_KEYS = {"store", "timeout", "concurrency", "targets", "checks", "sweep", "os_cloud"}
CHECK_KEYS = {"warning", "critical", "options", "timeout", "target"}
SWEEP_KEYS = CHECK_KEYS | {"check", "name", "url"}


class _Located(dict[str, Any]):
    """A mapping that remembers the line of each of its keys (1-based)."""

    line: int = 0
    key_lines: dict[str, int]


class _LineLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping = _Located(
            {str(k): v for k, v in super().construct_mapping(node, deep=True).items()}
        )
        mapping.line = node.start_mark.line + 1
        mapping.key_lines = {
            str(key_node.value): key_node.start_mark.line + 1 for key_node, _ in node.value
        }
        return mapping


_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _LineLoader.construct_mapping,  # type: ignore[arg-type]
)


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config")
    return Path(base) / "stacktender" / "stacktender.yaml"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "stacktender"


@dataclass
class SweepEntry:
    """One check instance to run in a sweep: which check, under which name, against what."""

    check: str
    name: str
    target: str | dict[str, Any] | None = None
    warning: dict[str, Any] = field(default_factory=dict)
    critical: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    timeout: float | None = None
    where: str = ""


@dataclass
class Config:
    """The parsed configuration, with where it came from for error messages."""

    path: Path | None = None
    store_url: str | None = None
    timeout: float = 10.0
    concurrency: int = 16
    os_cloud: str | None = None
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    sweep: list[SweepEntry] | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)

    def where(self, *keys: str) -> str:
        """``file:line`` of a configuration key, for error messages."""
        line = self.lines.get(".".join(keys))
        if self.path is None:
            return "configuration"
        return f"{self.path}:{line}" if line else str(self.path)


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load the configuration from path, $STACKTENDER_CONFIG or the default location."""
    explicit = path or os.environ.get("STACKTENDER_CONFIG")
    config_path = Path(explicit) if explicit else default_config_path()
    if not config_path.exists():
        if explicit:
            raise ConfigError(f"{config_path}: configuration file not found")
        return Config()
    try:
        text = config_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{config_path}: cannot read: {exc.strerror}") from None
    return parse_config(text, config_path)


def parse_config(text: str, path: Path | None = None) -> Config:
    """Parse configuration text; every error names the file and line."""
    label = str(path) if path else "configuration"
    try:
        data = yaml.load(text, Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{label}{line}: invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{label}: invalid YAML: {exc}") from None
    if data is None:
        return Config(path=path)
    if not isinstance(data, dict):
        raise ConfigError(f"{label}:1: the configuration must be a mapping of settings")

    config = Config(path=path, raw=dict(data))
    _record_lines(config.lines, data, "")

    def fail(message: str, *keys: str) -> ConfigError:
        return ConfigError(f"{config.where(*keys)}: {message}")

    unknown = sorted(set(data) - TOP_LEVEL_KEYS)
    if unknown:
        raise fail(
            f"unknown setting {unknown[0]!r} (known: {', '.join(sorted(TOP_LEVEL_KEYS))})",
            unknown[0],
        )

    store = data.get("store")
    if isinstance(store, dict):
        store = store.get("url")
    if store is not None and not isinstance(store, str):
        raise fail("'store' must be a database URL such as sqlite:///path.db", "store")
    config.store_url = store
    config.os_cloud = data.get("os_cloud")
    config.timeout = _positive(data.get("timeout", config.timeout), "timeout", fail)
    config.concurrency = int(
        _positive(data.get("concurrency", config.concurrency), "concurrency", fail)
    )

    targets = data.get("targets") or {}
    if not isinstance(targets, dict):
        raise fail("'targets' must map a name to {url: ...}", "targets")
    for name, target in targets.items():
        if isinstance(target, str):
            target = {"url": target}
        if not isinstance(target, dict) or "url" not in target:
            raise fail(f"target {name!r} needs a 'url'", "targets", str(name))
        config.targets[str(name)] = dict(target)

    checks = data.get("checks") or {}
    if not isinstance(checks, dict):
        raise fail("'checks' must map a check name to its settings", "checks")
    for name, settings in checks.items():
        settings = settings or {}
        if not isinstance(settings, dict):
            raise fail(f"settings of check {name!r} must be a mapping", "checks", str(name))
        bad = sorted(set(settings) - CHECK_KEYS)
        if bad:
            raise fail(
                f"unknown key {bad[0]!r} for check {name!r} "
                f"(known: {', '.join(sorted(CHECK_KEYS))})",
                "checks",
                str(name),
                bad[0],
            )
        config.checks[str(name)] = dict(settings)

    if "sweep" in data:
        sweep = data["sweep"] or []
        if not isinstance(sweep, list):
            raise fail("'sweep' must be a list of check names or {check: ...} entries", "sweep")
        config.sweep = [_sweep_entry(item, i, config, fail) for i, item in enumerate(sweep)]
    return config


def _sweep_entry(item: Any, index: int, config: Config, fail: Any) -> SweepEntry:
    where = f"sweep.{index}"
    if isinstance(item, str):
        return SweepEntry(check=item, name=item, where=where)
    if not isinstance(item, dict) or "check" not in item:
        raise _at(item, config, "each sweep entry is a check name or a mapping with 'check'")
    bad = sorted(set(item) - SWEEP_KEYS)
    if bad:
        raise _at(
            item,
            config,
            f"unknown key {bad[0]!r} in sweep entry (known: {', '.join(sorted(SWEEP_KEYS))})",
        )
    target = item.get("target")
    if "url" in item:
        target = {"url": item["url"]}
    for key in ("warning", "critical", "options"):
        if item.get(key) is not None and not isinstance(item[key], dict):
            raise _at(item, config, f"'{key}' of a sweep entry must be a mapping")
    return SweepEntry(
        check=str(item["check"]),
        name=str(item.get("name") or item["check"]),
        target=target,
        warning=dict(item.get("warning") or {}),
        critical=dict(item.get("critical") or {}),
        options=dict(item.get("options") or {}),
        timeout=item.get("timeout"),
        where=f"{config.path}:{getattr(item, 'line', 0)}" if config.path else where,
    )


def _at(node: Any, config: Config, message: str) -> ConfigError:
    line = getattr(node, "line", 0)
    label = str(config.path) if config.path else "configuration"
    return ConfigError(f"{label}:{line}: {message}" if line else f"{label}: {message}")


def _positive(value: Any, key: str, fail: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise fail(f"{key!r} must be a positive number, not {value!r}", key) from None
    if number <= 0:
        raise fail(f"{key!r} must be a positive number, not {value!r}", key)
    return number


def _record_lines(lines: dict[str, int], node: Any, prefix: str) -> None:
    if isinstance(node, _Located):
        for key, value in node.items():
            path = f"{prefix}{key}"
            lines[path] = node.key_lines.get(str(key), node.line)
            _record_lines(lines, value, path + ".")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _record_lines(lines, value, f"{prefix}{i}.")
