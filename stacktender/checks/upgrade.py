"""The ``openstack-upgrade-check`` check: a service's own ``*-status upgrade check``.

The target is ``file:///PREFIX``, the virtualenv or prefix whose ``bin/<service>-status``
runs (``file:///usr`` for distribution packages); option ``service`` names the service,
``config`` its config files (default ``/etc/<service>/<service>.conf`` where it exists).
The status is the worst result by default (a Failure is CRITICAL, a Warning WARNING);
each check of the tool is one detail line. Version skew between nova services is the
``openstack-nova-versions`` check of stacktender.checks.openstack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stacktender.checks.base import Check, CheckContext, Outcome
from stacktender.errors import CheckError, ConfigError
from stacktender.hookspecs import hookimpl
from stacktender.results import Status, ThresholdSpec, worst
from stacktender.upgrade.prechecks import TOOLS, PrecheckSpec, StatusReport, run_status_check


def _config_files(ctx: CheckContext, service: str) -> tuple[Path, ...]:
    given = ctx.option("config")
    if given in (None, "", []):
        default = Path(f"/etc/{service}/{service}.conf")
        return (default,) if default.is_file() else ()
    items = [given] if isinstance(given, str) else list(given)
    return tuple(Path(p) for item in items for p in str(item).split(",") if p.strip())


def collect(ctx: CheckContext) -> StatusReport:
    service = str(ctx.option("service") or "")
    if service not in TOOLS:
        raise CheckError(f"option service: {service!r} is none of {', '.join(TOOLS)}")
    prefix = Path(ctx.target.path or "/usr")
    config_dir = ctx.option("config_dir")
    spec = PrecheckSpec(
        service,
        prefix,
        _config_files(ctx, service),
        Path(config_dir) if config_dir else None,
    )
    try:
        # leave a little of the budget for the runner to report a hung tool itself
        return run_status_check(spec, timeout=max(1.0, ctx.remaining() - 0.5))
    except ConfigError as exc:
        raise CheckError(str(exc)) from None


def evaluate(report: StatusReport, ctx: CheckContext) -> Outcome:
    tool = f"{report.service}-status upgrade check"
    if report.error or not report.checks:
        return Outcome(Status.UNKNOWN, f"{tool}: {report.error or 'no results'}")
    ignore = ctx.pattern("ignore")
    kept = [c for c in report.checks if not (ignore and ignore.search(c.name))]
    failures = [c for c in kept if c.result == "Failure"]
    warnings = [c for c in kept if c.result == "Warning"]
    th = ctx.thresholds
    status = worst([th.status("failures", len(failures)), th.status("warnings", len(warnings))])
    summary = (
        f"{tool}: {len(kept)} checks, {len(failures)} failures, {len(warnings)} warnings"
        f" ({report.duration:.1f}s)"
    )
    named = [c.name for c in failures + warnings]
    if named:
        summary += ": " + ", ".join(named)
    details: list[str] = [
        f"{c.result}: {c.name}" + (f": {c.details}" if c.details else "") for c in report.checks
    ]
    skipped = len(report.checks) - len(kept)
    if skipped:
        details.append(f"{skipped} checks ignored by option ignore")
    return Outcome(
        status,
        summary,
        details,
        [
            th.perf("failures", len(failures), minimum=0),
            th.perf("warnings", len(warnings), minimum=0),
            th.perf("checks", len(kept), minimum=0),
            th.perf("seconds", round(report.duration, 2), unit="s", minimum=0),
        ],
    )


CHECK = Check(
    name="openstack-upgrade-check",
    service="openstack-upgrade",
    description="a service's own '<service>-status upgrade check' (Success/Warning/Failure)",
    collect=collect,
    evaluate=evaluate,
    default_url="file:///usr",
    thresholds=(
        ThresholdSpec("failures", "checks that report Failure", None, "0"),
        ThresholdSpec("warnings", "checks that report Warning", "0", None),
        ThresholdSpec("checks", "checks the tool ran", None, None),
        ThresholdSpec("seconds", "time the tool took", None, None, "s"),
    ),
    options={"service": "nova", "config": None, "config_dir": None, "ignore": None},
    option_help={
        "service": f"the service whose tool runs ({', '.join(TOOLS)})",
        "config": "config file(s), comma-separated (default /etc/SERVICE/SERVICE.conf)",
        "config_dir": "a --config-dir for the tool (cinder looks for cinder.conf there)",
        "ignore": "regular expression of check names to leave out of the status",
    },
)


@hookimpl
def stacktender_checks() -> list[Any]:
    return [CHECK]
