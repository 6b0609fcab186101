"""The application object: configuration, plugins, store and cloud connections, built once.

The CLI, the web UI and Python users all go through an :class:`App`. It is cheap to
create; plugins, the store and cloud connections are loaded when first used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from stacktender.config import Config, load_config
from stacktender.errors import ConfigError, UnknownCheckError
from stacktender.secrets import RedactingFilter, Redactor

if TYPE_CHECKING:
    import pluggy

    from stacktender.checks.base import Check
    from stacktender.checks.runner import CheckInstance
    from stacktender.render.base import Renderer
    from stacktender.results import CheckResult
    from stacktender.store.db import Store

__all__ = ["App"]


class App:
    """One stacktender application: config + plugin manager + store + clouds."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        plugin_manager: pluggy.PluginManager | None = None,
        plugins: Iterable[Any] = (),
        load_entrypoints: bool = True,
        os_cloud: str | None = None,
    ) -> None:
        self.config = config if config is not None else load_config()
        self._pm = plugin_manager
        self._extra_plugins = list(plugins)
        self._load_entrypoints = load_entrypoints
        if os_cloud:
            self.config.os_cloud = os_cloud
        self.os_cloud = self.config.os_cloud
        self.redactor = Redactor()
        self.redactor.learn(self.config.raw)

    @classmethod
    def from_path(cls, path: str | None = None, **kwargs: Any) -> App:
        """Build an App from a configuration file path (or the default search)."""
        return cls(load_config(path), **kwargs)

    def install_log_redaction(self) -> None:
        """Mask this app's secrets in every log record of the process."""
        for handler in logging.getLogger().handlers:
            handler.addFilter(RedactingFilter(self.redactor))

    # -- plugins -----------------------------------------------------------------
    @property
    def pm(self) -> pluggy.PluginManager:
        if self._pm is None:
            from stacktender.plugins import make_plugin_manager

            self._pm = make_plugin_manager(
                load_entrypoints=self._load_entrypoints, plugins=self._extra_plugins
            )
        return self._pm

    @cached_property
    def checks(self) -> dict[str, Check]:
        """Every installed check by name (a later plugin may not shadow an earlier one)."""
        found: dict[str, Check] = {}
        for batch in reversed(self.pm.hook.stacktender_checks()):
            for check in batch or []:
                if check.name in found:
                    raise ConfigError(f"two plugins provide a check named {check.name!r}")
                found[check.name] = check
        return dict(sorted(found.items()))

    @cached_property
    def renderers(self) -> dict[str, Renderer]:
        """Every output format for check results, by name."""
        found: dict[str, Renderer] = {}
        for batch in reversed(self.pm.hook.stacktender_renderers()):
            for renderer in batch or []:
                found.setdefault(renderer.name, renderer)
        return found

    def cli_commands(self) -> list[Any]:
        """Click commands contributed by plugins."""
        return [cmd for batch in self.pm.hook.stacktender_cli_commands() for cmd in batch or []]

    def get_check(self, name: str) -> Check:
        """The check called name, or UnknownCheckError listing the known ones."""
        try:
            return self.checks[name]
        except KeyError:
            raise UnknownCheckError(name, list(self.checks)) from None

    # -- running checks ------------------------------------------------------------
    def instance(self, name: str, **overrides: Any) -> CheckInstance:
        """One instance of the named check, config applied, overrides on top."""
        from stacktender.checks.runner import resolve_instance

        return resolve_instance(self.get_check(name), self.config, **overrides)

    def sweep_instances(self, names: Sequence[str] = ()) -> list[CheckInstance]:
        """The instances a sweep runs: the config's ``sweep`` list, else every check once.
        With names, only those instances (by instance or check name)."""
        from stacktender.checks.runner import resolve_instance

        entries: list[tuple[Check, dict[str, Any]]]
        if self.config.sweep is None:
            entries = [(check, {}) for check in self.checks.values()]
        else:
            entries = []
            for entry in self.config.sweep:
                try:
                    check = self.get_check(entry.check)
                except UnknownCheckError as exc:
                    raise ConfigError(f"{entry.where}: {exc}") from None
                entries.append(
                    (
                        check,
                        {
                            "name": entry.name,
                            "target": entry.target,
                            "warning": entry.warning,
                            "critical": entry.critical,
                            "options": entry.options,
                            "timeout": entry.timeout,
                        },
                    )
                )
        instances = []
        for check, overrides in entries:
            try:
                instances.append(resolve_instance(check, self.config, **overrides))
            except ConfigError as exc:
                where = self.config.where("checks", check.name) if self.config.path else ""
                raise ConfigError(f"{where}: {exc}" if where else str(exc)) from None
        if names:
            wanted = set(names)
            unknown = wanted - {i.name for i in instances} - {i.check.name for i in instances}
            if unknown:
                raise UnknownCheckError(sorted(unknown)[0], [i.name for i in instances])
            instances = [i for i in instances if i.name in wanted or i.check.name in wanted]
        return instances

    def run(self, instance: CheckInstance) -> CheckResult:
        """Run one instance (hard timeout, secrets masked)."""
        from stacktender.checks.runner import run_instance

        return run_instance(instance, self.redactor.secrets)

    def sweep(
        self,
        instances: Sequence[CheckInstance] | None = None,
        *,
        concurrency: int | None = None,
        on_result: Callable[[CheckResult], None] | None = None,
        record: bool = False,
        processes: int = 1,
    ) -> list[CheckResult]:
        """Run many instances concurrently; optionally record them in the store.
        ``processes`` above 1 forks workers for some services (see ``run_sweep``)."""
        from stacktender.checks.runner import run_sweep

        if instances is None:
            instances = self.sweep_instances()
        results = run_sweep(
            instances,
            concurrency=concurrency or self.config.concurrency,
            secrets=self.redactor.secrets,
            on_result=on_result,
            processes=processes,
        )
        if record:
            self.store.record_sweep(results)
        return results

    def render(self, results: Sequence[CheckResult], fmt: str, **options: Any) -> str:
        """Render results in the named format (table, json, nagios, prometheus, ...)."""
        try:
            renderer = self.renderers[fmt]
        except KeyError:
            known = ", ".join(sorted(self.renderers))
            raise ConfigError(f"unknown output format {fmt!r} (formats: {known})") from None
        return self.redactor(renderer.render(results, **options))

    # -- store -----------------------------------------------------------------------
    @cached_property
    def store(self) -> Store:
        """stacktender's own database (SQLite under the data directory by default)."""
        from stacktender.store.db import Store

        return Store.open(self.config.store_url)

    def masked_config(self) -> Mapping[str, Any]:
        """The configuration as loaded, secrets masked."""
        return self.redactor.masked(self.config.raw)
