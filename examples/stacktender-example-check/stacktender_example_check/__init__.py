"""A third-party stacktender check in about 20 lines: free space of a directory's disk."""

import shutil

from stacktender import Check, Outcome, ThresholdSpec, hookimpl


def collect(ctx):
    return shutil.disk_usage(ctx.option("path"))


def evaluate(usage, ctx):
    free = 100.0 * usage.free / usage.total
    status = ctx.thresholds.status("free", free)
    perf = ctx.thresholds.perf("free", round(free, 2), minimum=0, maximum=100)
    return Outcome(status, f"{free:.1f}% free on {ctx.option('path')}", perfdata=[perf])


@hookimpl
def stacktender_checks():
    return [
        Check(
            name="disk-free",
            service="disk",
            description="free space of the disk holding a path",
            collect=collect,
            evaluate=evaluate,
            default_url="file:///",
            thresholds=(ThresholdSpec("free", "free space in %", "20:", "10:", "%"),),
            options={"path": "/"},
        )
    ]
