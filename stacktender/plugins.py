"""The plugin manager: pluggy, fed from the entry-point group ``stacktender``.

Built-in checks and renderers are entry points of this very package, so they load
exactly like a third-party plugin. Nothing is loaded at import time. A plugin that
fails to import is reported and skipped: one broken package must not take the
whole tool down.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from stacktender import hookspecs

__all__ = ["PluginInfo", "PluginManager", "describe_plugins", "make_plugin_manager"]

log = logging.getLogger(__name__)


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus where each plugin came from and which failed to load."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.origins: dict[str, tuple[str, str]] = {}
        self.failed: dict[str, str] = {}

    def load_entrypoints(self, exclude_packages: Iterable[str] = ()) -> None:
        """Register every entry point of the group; record the ones that fail."""
        excluded = set(exclude_packages)
        for ep in entry_points(group=hookspecs.PROJECT):
            if self.has_plugin(ep.name) or ep.name in self.failed:
                continue
            dist = ep.dist
            origin = (dist.name, dist.version) if dist is not None else ("?", "")
            if origin[0] in excluded:
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                self.failed[ep.name] = f"{origin[0]}: {type(exc).__name__}: {exc}"
                log.warning("plugin %s (%s) failed to load: %s", ep.name, origin[0], exc)
                continue
            self.register(plugin, name=ep.name)
            self.origins[ep.name] = origin


def make_plugin_manager(
    *,
    load_entrypoints: bool = True,
    plugins: Iterable[Any] = (),
    exclude_packages: Iterable[str] = (),
) -> PluginManager:
    """A plugin manager with the hookspecs, the installed plugins and any extra plugins."""
    pm = PluginManager()
    if load_entrypoints:
        pm.load_entrypoints(exclude_packages)
    for plugin in plugins:
        pm.register(plugin)
    return pm


@dataclass
class PluginInfo:
    """One registered plugin: its name, package, version and what it provides."""

    name: str
    package: str
    version: str
    hooks: list[str] = field(default_factory=list)
    provides: list[str] = field(default_factory=list)
    error: str = ""


def describe_plugins(pm: PluginManager) -> list[PluginInfo]:
    """Describe every registered plugin, and every one that failed to load."""
    infos = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        package, version = pm.origins.get(name, ("(registered in code)", ""))
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        provides: list[str] = []
        for hook in hooks:
            impl = getattr(plugin, hook, None)
            if impl is None:
                continue
            kind = (
                hook.removeprefix("stacktender_")
                .removesuffix("s")
                .replace("cli_command", "command")
            )
            for item in impl() or []:
                label = getattr(item, "name", None) or getattr(item, "__name__", "?")
                provides.append(f"{kind}:{label}")
        infos.append(PluginInfo(name, package, version, hooks, provides))
    for name, error in pm.failed.items():
        infos.append(PluginInfo(name, error.split(":", 1)[0], "", [], [], error))
    return sorted(infos, key=lambda i: (i.package != "stacktender", i.package, i.name))
