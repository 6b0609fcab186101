"""Write log lines with oslo.log's own formatters, for the parser tests.

Run by the testcloud venv's Python (which has oslo.log, oslo.config, oslo.context):

    python oslo_writer.py OUTDIR

Writes OUTDIR/context.log (ContextFormatter, oslo.log's default options),
OUTDIR/json.log (JSONFormatter) and OUTDIR/expected.json: for every record, what
it was logged with and how many lines the text formatter wrote for it. Times are
fixed (a filter sets ``created``) and written in UTC (run with TZ=UTC).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from oslo_config import cfg
from oslo_context import context
from oslo_log import formatters
from oslo_log import log as oslo_logging

BASE = 1795623545.0  # 2026-11-25 16:19:05 UTC
REQUEST = "req-6d0c1f4e-2b9a-4c1e-9f8e-0a1b2c3d4e5f"
GLOBAL = "req-11111111-2222-4333-8444-555555555555"
USER = "95b567a9164649139eced4cbe84b0970"
PROJECT = "a3573ee28d674d48873545c7d46db680"
INSTANCE = "0b7f3c4e-9a43-4d26-a8c5-3f2e1d0c9b8a"


class Capture(logging.Handler):
    """Writes each formatted record and remembers what was logged and how many lines."""

    def __init__(self, path: Path, formatter: logging.Formatter, expected: list[dict]) -> None:
        super().__init__(logging.DEBUG)
        self.out = path.open("w")
        self.setFormatter(formatter)
        self.expected = expected

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        self.out.write(text + "\n")
        self.out.flush()
        self.expected.append(
            {
                "lines": len(text.split("\n")),
                "message": record.getMessage(),
                "error_summary": getattr(record, "error_summary", ""),
                "pid": record.process,
                "logger": record.name,
            }
        )


class FixedTime(logging.Filter):
    """Every record 250 ms after the one before, at a known time."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        record.created = BASE + self.count * 0.25 + 0.123
        record.msecs = round((record.created - int(record.created)) * 1000) + 0.0
        self.count += 1
        return True


def log_everything(log: oslo_logging.KeywordArgumentAdapter, wanted: list[dict]) -> None:
    plain = context.RequestContext(request_id=REQUEST, user_id=USER, project_id=PROJECT)
    chained = context.RequestContext(
        request_id=REQUEST, global_request_id=GLOBAL, user_id=USER, project_id=PROJECT
    )
    anonymous = context.RequestContext(request_id=REQUEST)
    # a new context becomes the thread's current one, which oslo.log would then use
    # for the records logged without one
    context._request_store.context = None

    def want(level: str, ctx: context.RequestContext | None = None, **kw) -> None:
        wanted.append(
            {
                "level": level,
                "request_id": ctx.request_id if ctx else None,
                "global_request_id": ctx.global_request_id if ctx else None,
                "user": ctx.user_id if ctx else None,
                "project": ctx.project_id if ctx else None,
                "instance": kw.get("instance"),
                "exception": kw.get("exception"),
            }
        )

    log.info("Service started")
    want("INFO")
    log.info("Plain request", context=plain)
    want("INFO", plain)
    log.info("Global request", context=chained)
    want("INFO", chained)
    log.warning("No user", context=anonymous)
    want("WARNING", anonymous)
    log.info("Instance booted", context=chained, instance={"uuid": INSTANCE})
    want("INFO", chained, instance=INSTANCE)
    log.info("Instance by uuid", instance_uuid=INSTANCE)
    want("INFO", instance=INSTANCE)
    log.debug("Debugging %s", "detail", context=plain)
    want("DEBUG", plain)
    log.info("First line\nsecond line\n  indented third line", context=plain)
    want("INFO", plain)
    log.error("Failed without exception", context=plain)
    want("ERROR", plain)
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("Build failed", context=chained, instance={"uuid": INSTANCE})
    want("ERROR", chained, instance=INSTANCE, exception="ValueError")
    try:
        raise KeyError("missing")
    except KeyError:
        log.warning("Retrying", exc_info=True, context=plain)
    want("WARNING", plain, exception="KeyError")
    try:
        raise RuntimeError("no context here")
    except RuntimeError:
        log.exception("Periodic task failed")
    want("ERROR", exception="RuntimeError")
    try:
        try:
            raise OSError("disk")
        except OSError as exc:
            raise RuntimeError("two\nlines") from exc
    except RuntimeError:
        log.exception("Chained", context=plain)
    want("ERROR", plain, exception="RuntimeError")
    log.info("[abc] brackets that are no context", context=plain)
    want("INFO", plain)
    log.critical("Last words")
    want("CRITICAL")


def main(out: Path) -> None:
    conf = cfg.ConfigOpts()
    oslo_logging.register_options(conf)
    conf([], project="fixture")
    out.mkdir(parents=True, exist_ok=True)
    # as oslo.log's own set-up builds them (log.py, _setup_logging_from_conf)
    text = formatters.ContextFormatter(
        config=conf, project="fixture", version="1", datefmt=conf.log_date_format
    )
    expected = {}
    # one logger per formatter: ContextFormatter changes the records it formats
    for name, logger, formatter in (
        ("context", "nova.compute.manager", text),
        ("json", "glance.api.v2.images", formatters.JSONFormatter()),
    ):
        written: list[dict] = []
        base = logging.getLogger(logger)
        base.setLevel(logging.DEBUG)
        base.propagate = False
        base.addFilter(FixedTime())
        base.addHandler(Capture(out / f"{name}.log", formatter, written))
        wanted: list[dict] = []
        log_everything(oslo_logging.KeywordArgumentAdapter(base, {}), wanted)
        for i, (want, got) in enumerate(zip(wanted, written, strict=True)):
            want.update(got, created=BASE + i * 0.25 + 0.123)
        expected[name] = wanted
    (out / "expected.json").write_text(json.dumps(expected, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
