"""Rolling restart or upgrade of a Galera cluster, one node at a time, through Ansible.

The work is done by the playbook ``stacktender/data/ansible/galera-rolling.yml`` (role
``galera_rolling``), run with ansible-runner: ``serial: 1``, the whole cluster checked
healthy before each node, the node stopped, upgraded (upgrade mode), started and waited
for until Synced in a cluster of the expected size, the run ended by the first failure.
This module builds the run (inventory, variables, check mode), runs it, and turns
ansible-runner's events into a report per node: when it was stopped, started and Synced.

A run always begins with Ansible's check mode, which reads every node's status and
changes nothing; the real run follows only when asked to and only if the dry run passed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from stacktender.errors import ConfigError, StacktenderError

__all__ = [
    "MODES",
    "NodeResult",
    "RollingOptions",
    "RollingReport",
    "RollingRun",
    "RollingTarget",
    "galera_rolling",
    "playbook_path",
    "resolve_nodes",
    "run_rolling",
]

MODES = ("restart", "upgrade")

# Task names of roles/galera_rolling/tasks/main.yml that mark a node's progress.
_STOP = "galera: stop node"
_UPGRADE = "galera: upgrade packages"
_START = "galera: start node"
_SYNCED = "galera: wait for Synced"
# Tasks inside a block whose rescue fails the node with a readable message of its own.
_RESCUED = {
    "galera: pre-check deadline",
    "galera: cluster healthy",
    _STOP,
    _UPGRADE,
    _START,
    "galera: sync deadline",
    _SYNCED,
}
_RESCUED |= {"galera: after upgrade"}

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RollingTarget:
    """The cluster's nodes: an Ansible inventory file (its group), or a list of hosts."""

    inventory: Path | None = None
    hosts: tuple[str, ...] = ()
    group: str = "galera"


@dataclass(frozen=True)
class RollingOptions:
    """How to roll: the mode, the cluster size to wait for, timeouts, extra variables.

    extravars override every variable of the role (defaults/main.yml) and of the
    inventory, for every node; per-node commands belong in the inventory."""

    mode: str = "restart"
    expected_size: int | None = None
    sync_timeout: float | None = None
    poll_interval: float | None = None
    extravars: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class NodeResult:
    """What happened to one node; times are when each step finished (UTC)."""

    node: str
    result: str = "untouched"  # checked | restarted | upgraded | failed | untouched
    stopped: datetime | None = None
    started: datetime | None = None
    synced: datetime | None = None
    seconds: float | None = None  # from the stop command to Synced
    error: str | None = None


@dataclass
class RollingRun:
    """One ansible-playbook run: the check-mode dry run or the real one."""

    phase: str  # check | execute
    mode: str
    ok: bool
    nodes: list[NodeResult]
    seconds: float
    error: str | None = None


@dataclass
class RollingReport:
    """The dry run, and the real run when it was asked for and the dry run passed."""

    runs: list[RollingRun]

    @property
    def ok(self) -> bool:
        """Every run succeeded."""
        return all(run.ok for run in self.runs)

    @property
    def executed(self) -> bool:
        """The real run happened (the cluster was touched)."""
        return any(run.phase == "execute" for run in self.runs)


def playbook_path() -> Path:
    """The packaged playbook (its role sits beside it under roles/)."""
    return Path(str(resources.files("stacktender") / "data" / "ansible" / "galera-rolling.yml"))


def galera_rolling(
    target: RollingTarget,
    options: RollingOptions | None = None,
    *,
    execute: bool = False,
    progress: Progress | None = None,
) -> RollingReport:
    """Dry-run the rolling restart/upgrade in check mode; with execute, then run it."""
    options = options or RollingOptions()
    dry = run_rolling(target, options, check=True, progress=progress)
    runs = [dry]
    if execute and dry.ok:
        runs.append(run_rolling(target, options, check=False, progress=progress))
    return RollingReport(runs)


def run_rolling(
    target: RollingTarget,
    options: RollingOptions | None = None,
    *,
    check: bool = True,
    progress: Progress | None = None,
) -> RollingRun:
    """Run the playbook once (check=True: Ansible's check mode, changes nothing)."""
    options = options or RollingOptions()
    _validate(options)
    nodes = resolve_nodes(target)
    runner = _import_runner()
    collector = _Collector(nodes, check=check, mode=options.mode, progress=progress)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="stacktender-galera-rolling-") as private:
        # ansible-playbook runs in the private dir: the inventory path must be absolute.
        inventory: Any = (
            str(target.inventory.resolve()) if target.inventory else _host_inventory(target)
        )
        result = runner.run(
            private_data_dir=private,
            playbook=str(playbook_path()),
            inventory=inventory,
            extravars=_extravars(target, options),
            cmdline="--check" if check else None,
            envvars=_environment(),
            quiet=True,
            event_handler=collector.handle,
        )
        stdout = result.stdout.read() if result.stdout else ""
    ok = result.status == "successful" and result.rc == 0 and not collector.failed
    error = None if ok else collector.error() or _stdout_error(stdout, result.status, result.rc)
    return RollingRun(
        phase="check" if check else "execute",
        mode=options.mode,
        ok=ok,
        nodes=collector.results(),
        seconds=round(time.monotonic() - began, 1),
        error=error,
    )


def resolve_nodes(target: RollingTarget) -> list[str]:
    """The group's hosts in inventory order (the order the play takes them)."""
    if bool(target.inventory) == bool(target.hosts):
        raise ConfigError("give exactly one of an inventory file and a list of hosts")
    if target.hosts:
        bad = [h for h in target.hosts if not h or any(c.isspace() or c == "," for c in h)]
        if bad:
            raise ConfigError(f"bad host name(s): {', '.join(repr(h) for h in bad)}")
        if len(set(target.hosts)) != len(target.hosts):
            raise ConfigError("a host is listed twice")
        return list(target.hosts)
    assert target.inventory is not None
    if not target.inventory.is_file() or not os.access(target.inventory, os.R_OK):
        raise ConfigError(f"cannot read inventory {target.inventory}")
    listing = _run_inventory(target.inventory)
    hosts = _group_hosts(listing, target.group, set())
    if not hosts:
        groups = sorted(k for k in listing if k not in ("_meta", "all", "ungrouped"))
        raise ConfigError(
            f"inventory {target.inventory} has no host in group {target.group!r} "
            f"(groups: {', '.join(groups) or 'none'})"
        )
    return hosts


# -- running ------------------------------------------------------------------------------


def _validate(options: RollingOptions) -> None:
    if options.mode not in MODES:
        raise ConfigError(f"unknown mode {options.mode!r} (modes: {', '.join(MODES)})")
    if options.expected_size is not None and options.expected_size < 1:
        raise ConfigError("the expected cluster size must be at least 1")
    for name in ("sync_timeout", "poll_interval"):
        value = getattr(options, name)
        if value is not None and value <= 0:
            raise ConfigError(f"{name.replace('_', ' ')} must be positive, not {value}")


def _import_runner() -> Any:
    try:
        import ansible_runner
    except ImportError as exc:
        raise StacktenderError(
            "ansible-runner is not installed: pip install 'stacktender[upgrade]'"
        ) from exc
    if _ansible_bin("ansible-playbook") is None:
        raise StacktenderError("ansible-playbook not found: pip install 'stacktender[upgrade]'")
    return ansible_runner


def _ansible_bin(name: str) -> str | None:
    # Installed into the same environment as stacktender, which need not be on PATH.
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def _environment() -> dict[str, str]:
    env = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
    }
    # ansible-runner runs ansible-playbook in its own directory, so the operator's
    # ./ansible.cfg (remote_user, become, ssh options) would be missed without this.
    if "ANSIBLE_CONFIG" not in os.environ and Path("ansible.cfg").is_file():
        env["ANSIBLE_CONFIG"] = str(Path("ansible.cfg").resolve())
    return env


def _host_inventory(target: RollingTarget) -> dict[str, Any]:
    return {target.group: {"hosts": {host: {} for host in target.hosts}}}


def _extravars(target: RollingTarget, options: RollingOptions) -> dict[str, Any]:
    extra: dict[str, Any] = {"galera_group": target.group, "galera_mode": options.mode}
    if options.expected_size is not None:
        extra["galera_expected_size"] = options.expected_size
    if options.sync_timeout is not None:
        extra["galera_sync_timeout"] = options.sync_timeout
    if options.poll_interval is not None:
        extra["galera_poll_interval"] = options.poll_interval
    reserved = set(extra) & set(options.extravars)
    if reserved:
        raise ConfigError(
            f"set {', '.join(sorted(reserved))} with its own option, not as a variable"
        )
    return {**extra, **options.extravars}


def _run_inventory(path: Path) -> dict[str, Any]:
    binary = _ansible_bin("ansible-inventory")
    if binary is None:
        raise StacktenderError("ansible-inventory not found: pip install 'stacktender[upgrade]'")
    proc = subprocess.run(
        [binary, "-i", str(path), "--list"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **_environment(), "ANSIBLE_INVENTORY_UNPARSED_FAILED": "1"},
    )
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        raise ConfigError(f"cannot parse inventory {path}: {' '.join(lines[-3:])}")
    listing: dict[str, Any] = json.loads(proc.stdout)
    return listing


def _group_hosts(listing: Mapping[str, Any], group: str, seen: set[str]) -> list[str]:
    if group in seen:
        return []
    seen.add(group)
    entry = listing.get(group) or {}
    hosts = list(entry.get("hosts", []))
    for child in entry.get("children", []):
        hosts += [h for h in _group_hosts(listing, child, seen) if h not in hosts]
    return hosts


def _stdout_error(stdout: str, status: str, rc: int | None) -> str:
    errors = [ln.strip() for ln in stdout.splitlines() if "ERROR" in ln]
    if errors:
        return errors[-1].removeprefix("[ERROR]:").strip()
    return f"ansible-playbook {status} (exit {rc})"


class _Collector:
    """Turns ansible-runner events into NodeResults (and progress lines)."""

    def __init__(
        self, nodes: Sequence[str], *, check: bool, mode: str, progress: Progress | None
    ) -> None:
        self.nodes = {name: NodeResult(name) for name in nodes}
        self.check = check
        self.mode = mode
        self.progress = progress
        self.failed: list[str] = []
        self.began: dict[str, datetime | None] = {}

    def handle(self, event: Mapping[str, Any]) -> bool:
        data = event.get("event_data") or {}
        kind = event.get("event", "")
        host, task = data.get("host"), str(data.get("task", ""))
        if not host or kind not in (
            "runner_on_ok",
            "runner_on_failed",
            "runner_on_unreachable",
            "runner_on_skipped",
        ):
            return True
        node = self.nodes.setdefault(host, NodeResult(host))
        end = _timestamp(data.get("end"))
        res = data.get("res") or {}
        if kind in ("runner_on_failed", "runner_on_unreachable"):
            if kind == "runner_on_failed" and data.get("ignore_errors"):
                return True
            # The rescue's own fail task carries the readable message; keep the first
            # failure only if no rescue follows (unreachable hosts have no rescue).
            message = _message(res) or f"{task} failed"
            if kind == "runner_on_unreachable":
                message = f"{host} unreachable: {message}"
            node.result, node.error = "failed", message
            if host not in self.failed:
                self.failed.append(host)
            if task not in _RESCUED or kind == "runner_on_unreachable":
                self._say(f"{host}: FAILED: {message}")
            return True
        if self.check and task == _UPGRADE and kind == "runner_on_ok":
            # The package module answers in check mode: say whether it would change.
            self._say(f"{host}: packages {'would change' if res.get('changed') else 'up to date'}")
            return True
        if kind == "runner_on_skipped" or self.check:
            # In check mode the node's last step is skipped: the pre-check passed.
            if task == _SYNCED and node.result != "failed":
                node.result = "checked"
                self._say(f"{host}: checked (cluster healthy; would {self.mode})")
            return True
        if task == _STOP:
            node.stopped = end
            self.began[host] = _timestamp(data.get("start"))
            self._say(f"{host}: stopped")
        elif task == _UPGRADE:
            self._say(f"{host}: packages upgraded")
        elif task == _START:
            node.started = end
            self._say(f"{host}: started")
        elif task == _SYNCED:
            node.synced = end
            node.result = "upgraded" if self.mode == "upgrade" else "restarted"
            began = self.began.get(host)
            if began and end:
                node.seconds = round((end - began).total_seconds(), 1)
            self._say(f"{host}: Synced ({node.seconds} s)")
        return True

    def _say(self, line: str) -> None:
        if self.progress is not None:
            self.progress(line)

    def results(self) -> list[NodeResult]:
        return list(self.nodes.values())

    def error(self) -> str | None:
        errors = [self.nodes[h].error for h in self.failed if self.nodes[h].error]
        return "; ".join(e for e in errors if e) or None


def _message(res: Mapping[str, Any]) -> str:
    """The result's message; for a loop, the first failed item's (the loop's is generic)."""
    for item in res.get("results") or []:
        if isinstance(item, Mapping) and (item.get("unreachable") or item.get("failed")):
            text = str(item.get("msg") or item.get("stderr") or "").strip()
            if text:
                return text
    return str(res.get("msg") or "").strip()


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
