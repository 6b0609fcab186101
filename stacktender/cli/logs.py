"""``stacktender logs``: merge, trace, errors, templates, diff, index and ship."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import click

from stacktender.cli.common import CommandError, output_options
from stacktender.render.rows import ROW_FORMATS

F = TypeVar("F", bound=Callable[..., Any])

_LEVEL_COLOURS = {"ERROR": "red", "CRITICAL": "red", "FATAL": "red", "WARNING": "yellow"}


def source_options(func: F) -> F:
    """Where to read: PATHS or the index, and how to label and time what is read."""
    decorators = [
        click.argument("paths", nargs=-1),
        click.option(
            "--index",
            "use_index",
            is_flag=True,
            help="Read the index that 'logs index' built instead of files.",
        ),
        click.option(
            "--index-file",
            type=click.Path(dir_okay=False, path_type=Path),
            envvar="STACKTENDER_LOGS_INDEX",
            help="Index file (default ~/.local/share/stacktender/logs.db).",
        ),
        click.option("--hostname", help="Host name for local files (default: this machine)."),
        click.option(
            "--by-host",
            is_flag=True,
            help="Each folder under a directory is a host (as 'ansible -m fetch' collects).",
        ),
        click.option("--tz", help="Time zone of times without one (default: this machine's)."),
        click.option(
            "--skew",
            multiple=True,
            metavar="HOST=SECONDS",
            help="Add SECONDS to HOST's times to correct its clock (repeatable).",
        ),
        click.option(
            "--ssh-option", multiple=True, help="Extra ssh argument for HOST:/path (repeatable)."
        ),
    ]
    for decorate in reversed(decorators):
        func = decorate(func)
    return func


def filter_options(func: F) -> F:
    """The filters every logs command takes."""
    decorators = [
        click.option("-l", "--level", help="Minimum level (DEBUG, INFO, WARNING, ERROR)."),
        click.option("--service", multiple=True, help="Service, shell pattern (nova-*)."),
        click.option("--host", multiple=True, help="Host, shell pattern (repeatable)."),
        click.option("--since", help="From this time: 10m, 2h, 1d ago, or ISO time."),
        click.option("--until", help="Up to this time: 10m, 2h ago, or ISO time."),
        click.option("--request-id", help="Only this request id (req-...)."),
        click.option("--global-request-id", help="Only this global request id."),
        click.option("--instance", help="Only lines about this instance UUID."),
        click.option("--project", help="Only this project id."),
        click.option("--user", help="Only this user id."),
        click.option("--grep", help="Only records whose text matches this regex."),
    ]
    for decorate in reversed(decorators):
        func = decorate(func)
    return func


def text_format_option(choices: list[str], help_: str) -> Callable[[F], F]:
    """``-f/--format`` for the commands whose output is not rows."""
    return click.option(
        "-f", "--format", "fmt", type=click.Choice(choices), default=choices[0],
        show_default=True, help=help_,
    )  # fmt: skip


def build_query(options: dict[str, Any], **overrides: Any) -> Any:
    """A LogQuery from the options of source_options and filter_options."""
    from stacktender.logs.filters import LogFilter, parse_time
    from stacktender.logs.reading import LogQuery

    options = {**options, **overrides}
    tz = _zone(options.get("tz"))
    since, until = options.get("since"), options.get("until")
    log_filter = LogFilter(
        min_level=options.get("level"),
        services=tuple(options.get("service") or ()),
        hosts=tuple(options.get("host") or ()),
        since=parse_time(since, tz=tz) if since else None,
        until=parse_time(until, tz=tz) if until else None,
        request_id=options.get("request_id"),
        global_request_id=options.get("global_request_id"),
        instance=options.get("instance"),
        project=options.get("project"),
        user=options.get("user"),
        regex=options.get("grep"),
    )
    index = None
    if options.get("use_index") or options.get("index_file"):
        from stacktender.logs.index import default_index_path

        index = options.get("index_file") or default_index_path()
    paths = tuple(options.get("paths") or ())
    if not paths and index is None and _stdin_is_data():
        paths = ("-",)  # `journalctl ... | stacktender logs merge`, as grep and cat do
    return LogQuery(
        paths=paths,
        index=index,
        log_filter=log_filter,
        hostname=options.get("hostname"),
        by_host=bool(options.get("by_host")),
        tz=tz,
        skews=_skews(options.get("skew") or ()),
        ssh_options=tuple(options.get("ssh_option") or ()),
    )


def _stdin_is_data() -> bool:
    import os
    import stat

    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode)


def _zone(name: str | None) -> Any:
    if not name:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CommandError(f"unknown time zone {name!r} (use e.g. UTC or Europe/Paris)") from None


def _skews(values: Iterable[str]) -> dict[str, float]:
    skews = {}
    for value in values:
        host, _, seconds = value.partition("=")
        try:
            skews[host] = float(seconds)
        except ValueError:
            raise CommandError(f"bad --skew {value!r}: use HOST=SECONDS, e.g. node1=-2.5") from None
    return skews


def _report_problems(query: Any) -> None:
    problems = query.problems()
    if problems:
        click.echo(f"stacktender: note: {problems}", err=True)


@click.group()
def logs() -> None:
    """Parse, merge, trace and mine OpenStack logs.

    \b
    Examples:
      stacktender logs merge /var/log/nova /var/log/neutron --level WARNING
      stacktender logs trace req-6d0c... ~/.local/share/stacktender/testcloud/logs
      stacktender logs errors --since 1h /var/log
    """


@logs.command()
@source_options
@filter_options
@text_format_option(["text", "json"], "Lines as written, or one JSON object per record.")
@click.option("--color/--no-color", default=None, help="Colour by level (default: on a terminal).")
def merge(fmt: str, color: bool | None, **options: Any) -> None:
    """Merge logs of many files and hosts by time, each line labelled HOST SERVICE.

    \b
    Examples:
      stacktender logs merge /var/log/nova/*.log /var/log/neutron
      stacktender logs merge ctl1:/var/log/nova ctl2:/var/log/nova --since 30m -l WARNING
      stacktender logs merge --by-host collected/ --request-id req-6d0c...
      journalctl -o short-iso -u 'nova-*' | stacktender logs merge -
    """
    from stacktender.logs.output import write_json, write_text

    query = build_query(options)
    out = sys.stdout
    colour = out.isatty() if color is None else color
    try:
        if fmt == "json":
            write_json(query.records(), out)
        elif query.index is None and query.log_filter.empty:
            # nothing to filter: the same lines without building records, 2x faster
            from stacktender.logs.fastmerge import MergedText

            merged = MergedText(query.sources(), colour=colour, tz=query.tz, skews=query.skews)
            try:
                merged.write(out)
            finally:
                query.stats = merged.stats
        else:
            write_text(query.records(), out, colour=colour)
    except BrokenPipeError:  # `| head`: the reader left, which is fine
        sys.stderr.close()
        return
    _report_problems(query)


@logs.command()
@click.argument("request")
@source_options
@filter_options
@text_format_option(["text", "json", "lines"], "Timeline, JSON, or every line of the request.")
def trace(request: str, fmt: str, **options: Any) -> None:
    """Follow one request through every service and host: its timeline and where it
    failed. REQUEST is a request id, a global request id or an instance UUID.

    \b
    Examples:
      stacktender logs trace req-1983e1f7-... ~/.local/share/stacktender/testcloud/logs
      stacktender logs trace 2f1c6f0e-...-instance-uuid /var/log --since 2h
      stacktender logs trace req-1983e1f7-... --index
    """
    from stacktender.logs.output import trace_text, write_text

    query = build_query(options)
    result = query.trace(request)
    if fmt == "json":
        import json

        click.echo(json.dumps(result.as_dict(), indent=2))
    elif fmt == "lines":
        write_text(result.records, sys.stdout, colour=sys.stdout.isatty())
    else:
        click.echo(trace_text(result, colour=sys.stdout.isatty()))
    _report_problems(query)


ERROR_COLUMNS = (
    "count",
    "exception",
    "frame",
    "first_seen",
    "last_seen",
    "hosts",
    "services",
    "example",
    "request_id",
)


@logs.command()
@source_options
@filter_options
@output_options(ROW_FORMATS)
def errors(fmt: str, columns: tuple[str, ...], **options: Any) -> None:
    """Group tracebacks and ERROR lines by exception and raising frame, with counts.

    \b
    Examples:
      stacktender logs errors /var/log/nova --since 1d
      stacktender logs errors /var/log -l WARNING -f json
    """
    from stacktender.logs.error_groups import group_errors
    from stacktender.render.rows import render_rows

    level = options.pop("level") or "ERROR"
    query = build_query(options, level=None)
    groups = group_errors(query.records(), min_level=level)
    click.echo(render_rows([g.as_row() for g in groups], ERROR_COLUMNS, fmt, columns))
    _report_problems(query)


TEMPLATE_COLUMNS = ("count", "id", "levels", "services", "template", "first_seen", "last_seen")


@logs.command()
@source_options
@filter_options
@click.option("-n", "--top", type=click.IntRange(min=1), help="Only the N most frequent.")
@output_options(ROW_FORMATS)
def templates(top: int | None, fmt: str, columns: tuple[str, ...], **options: Any) -> None:
    """Mine message templates (ids, addresses, numbers masked) with their counts.

    \b
    Examples:
      stacktender logs templates /var/log/nova -n 20
      stacktender logs templates /var/log --service 'neutron-*' -l WARNING -f json
    """
    from stacktender.logs.output import template_row
    from stacktender.logs.templates import mine
    from stacktender.render.rows import render_rows

    query = build_query(options)
    found = mine(r for r in query.records() if r.parsed)
    rows = [template_row(t) for t in found[:top]]
    click.echo(render_rows(rows, TEMPLATE_COLUMNS, fmt, columns))
    _report_problems(query)


DIFF_COLUMNS = (
    "change",
    "before",
    "after",
    "per_min_before",
    "per_min_after",
    "ratio",
    "services",
    "template",
    "id",
)


@logs.command()
@source_options
@filter_options
@click.option("--before", "before_paths", multiple=True, help="Files of the first side.")
@click.option("--after", "after_paths", multiple=True, help="Files of the second side.")
@click.option("--split", help="Or one set of PATHS cut at this time (ISO or 2h ago).")
@click.option(
    "--threshold",
    type=float,
    default=2.0,
    show_default=True,
    help="Report rate changes by this factor or more.",
)
@click.option(
    "--min-count",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Occurrences a template needs on one side for a rate change.",
)
@output_options(ROW_FORMATS)
def diff(
    before_paths: tuple[str, ...],
    after_paths: tuple[str, ...],
    split: str | None,
    threshold: float,
    min_count: int,
    fmt: str,
    columns: tuple[str, ...],
    **options: Any,
) -> None:
    """Compare two sets of logs: templates new, vanished, or much more or less frequent.

    \b
    Examples:
      stacktender logs diff --before old/nova --after /var/log/nova
      stacktender logs diff /var/log/nova --split 2026-11-25T14:00 --since 1d
    """
    from stacktender.logs.diff import diff_logs
    from stacktender.logs.filters import parse_time
    from stacktender.render.rows import render_rows

    if split:
        if before_paths or after_paths:
            raise CommandError("use either --split or --before/--after")
        base = build_query(options)
        cut = parse_time(split, tz=base.tz)
        before = base.with_filter(_window(base.log_filter, until=cut))
        after = base.with_filter(_window(base.log_filter, since=cut))
    else:
        if not before_paths or not after_paths or options.get("paths"):
            raise CommandError("give --before PATH and --after PATH (or PATHS with --split)")
        before = build_query(options, paths=before_paths)
        after = build_query(options, paths=after_paths)
    spans = [_span(q.log_filter) for q in (before, after)]
    changes = diff_logs(
        before.records,
        after.records,
        threshold=threshold,
        min_count=min_count,
        before_span=spans[0],
        after_span=spans[1],
    )
    click.echo(render_rows([c.as_row() for c in changes], DIFF_COLUMNS, fmt, columns))
    for query in (before, after):
        _report_problems(query)


def _window(log_filter: Any, **bounds: float) -> Any:
    from dataclasses import replace

    return replace(log_filter, **bounds)


def _span(log_filter: Any) -> float | None:
    if log_filter.since is not None and log_filter.until is not None:
        return float(log_filter.until - log_filter.since)
    return None


@logs.command()
@source_options
@click.option("--rebuild", is_flag=True, help="Start a new index if this one is of an old schema.")
@click.option("--stats", "show_stats", is_flag=True, help="Only show what the index holds.")
@text_format_option(["text", "json"], "A summary line, or the report as JSON.")
def index(rebuild: bool, show_stats: bool, fmt: str, **options: Any) -> None:
    """Load parsed records into the index so that every logs command answers from it
    (--index) in well under a second. Files indexed before and unchanged are skipped.

    \b
    Examples:
      stacktender logs index /var/log/nova /var/log/neutron
      stacktender logs trace req-6d0c... --index
      stacktender logs index --stats
    """
    import json

    from stacktender.logs.index import LogIndex, default_index_path

    path = options.get("index_file") or default_index_path()
    if show_stats:
        with LogIndex(path, create=False) as log_index:
            stats = log_index.stats()
        click.echo(json.dumps(stats.as_dict(), indent=2) if fmt == "json" else _stats_text(stats))
        return
    query = build_query(options, use_index=False, index_file=None)
    sources = query.sources()
    progress = _progress_printer(len(sources)) if sys.stderr.isatty() else None
    with LogIndex(path, rebuild=rebuild) as log_index:
        report = log_index.index_sources(sources, tz=query.tz, skews=query.skews, progress=progress)
    if progress is not None:
        click.echo("", err=True)
    if fmt == "json":
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        click.echo(
            f"indexed {len(report.indexed)} sources ({report.records} records) in "
            f"{report.seconds:.1f}s, skipped {len(report.skipped)} unchanged, "
            f"{len(report.renamed)} rotated, {len(report.failed)} unreadable -> {path}"
        )
    query.stats = report.stats
    _report_problems(query)


def _stats_text(stats: Any) -> str:
    from datetime import UTC, datetime

    def iso(ts: float | None) -> str:
        return "-" if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")

    return "\n".join(
        [
            f"index     {stats.path} ({stats.size_bytes / 1e6:.1f} MB, "
            f"schema {stats.schema_version})",
            f"records   {stats.records} from {stats.sources} sources ({stats.unparsed} unparsed)",
            f"time      {iso(stats.first_ts)} .. {iso(stats.last_ts)}",
            f"hosts     {', '.join(stats.hosts)}",
            f"services  {', '.join(stats.services)}",
            "levels    " + ", ".join(f"{k} {v}" for k, v in sorted(stats.levels.items())),
        ]
    )


def _progress_printer(total: int) -> Callable[[str], None]:
    seen = [0]

    def show(name: str) -> None:
        seen[0] += 1
        done = int(30 * seen[0] / max(total, 1))
        bar = "#" * done + "-" * (30 - done)
        click.echo(f"\r\x1b[K[{bar}] {seen[0]}/{total} {name[-60:]}", err=True, nl=False)

    return show


SHIP_COLUMNS = ("path", "host", "service", "state", "sent", "failed", "skipped", "offset")


@logs.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--opensearch", metavar="URL", help="OpenSearch base URL (bulk API).")
@click.option("--loki", metavar="URL", help="Loki base URL or push URL.")
@click.option(
    "--to",
    "to",
    metavar="KIND=URL",
    help="Any destination a plugin offers ('plugins list' shows log_destination:KIND).",
)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="A setting of the destination kind (repeatable).",
)
@click.option("--username", envvar="STACKTENDER_SHIP_USERNAME", help="Basic auth user.")
@click.option(
    "--password",
    envvar="STACKTENDER_SHIP_PASSWORD",
    help="Basic auth password (better: $STACKTENDER_SHIP_PASSWORD).",
)
@click.option("--token", envvar="STACKTENDER_SHIP_TOKEN", help="Bearer token (or env).")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False), help="CA bundle.")
@click.option("--insecure", is_flag=True, help="Do not verify the server's certificate.")
@click.option("--tenant", help="Loki tenant (X-Scope-OrgID); same as --set tenant=...")
@click.option("--index-prefix", default="stacktender-logs", show_default=True,
              help="OpenSearch index prefix; one index per day.")  # fmt: skip
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where checkpoints live (default ~/.local/share/stacktender/ship).",
)
@click.option("--follow", is_flag=True, help="Keep shipping new lines until interrupted.")
@click.option("--batch-size", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds per request.")  # fmt: skip
@click.option("--hostname", help="Host name for local files (default: this machine).")
@click.option("--by-host", is_flag=True, help="Each folder under a directory is a host.")
@click.option("--tz", help="Time zone of times without one (default: this machine's).")
@filter_options
@output_options(ROW_FORMATS)
def ship(
    paths: tuple[str, ...],
    opensearch: str | None,
    loki: str | None,
    to: str | None,
    settings: tuple[str, ...],
    username: str | None,
    password: str | None,
    token: str | None,
    ca_file: str | None,
    insecure: bool,
    tenant: str | None,
    index_prefix: str,
    state_dir: Path | None,
    follow: bool,
    batch_size: int,
    timeout: float,
    fmt: str,
    columns: tuple[str, ...],
    **options: Any,
) -> None:
    """Send parsed records to OpenSearch or Loki, resuming from per-file checkpoints:
    a restart neither loses nor repeats a line.

    \b
    Examples:
      stacktender logs ship /var/log/nova --opensearch https://opensearch:9200 --username logs
      stacktender logs ship /var/log --loki http://loki:3100 --tenant ops --follow
      stacktender logs ship /var/log/nova --opensearch http://os:9200 -l INFO --since 1d
      stacktender logs ship /var/log/nova --to loki=http://loki:3100 --set tenant=ops
    """
    import contextlib
    import signal
    import threading

    from stacktender.cli.common import get_app
    from stacktender.config import default_data_dir
    from stacktender.logs.ship import ship as ship_logs
    from stacktender.logs.ship.base import destination_kinds
    from stacktender.render.rows import render_rows
    from stacktender.secrets import mask_url

    chosen = [(k, u) for k, u in (("opensearch", opensearch), ("loki", loki)) if u]
    if to:
        kind_name, _, target = to.partition("=")
        if not target:
            raise CommandError(f"bad --to {to!r}: use KIND=URL, e.g. loki=http://loki:3100")
        chosen.append((kind_name, target))
    if len(chosen) != 1:
        raise CommandError("name one destination: --opensearch URL, --loki URL or --to KIND=URL")
    kind_name, url = chosen[0]
    kinds = destination_kinds(get_app(click.get_current_context()).pm)
    if kind_name not in kinds:
        raise CommandError(f"unknown destination {kind_name!r} (installed: {', '.join(kinds)})")
    extra = {"tenant": tenant} if tenant else {}
    if kind_name == "opensearch" and index_prefix != "stacktender-logs":
        extra["index_prefix"] = index_prefix
    for pair in settings:
        key, _, value = pair.partition("=")
        if not value:
            raise CommandError(f"bad --set {pair!r}: use KEY=VALUE")
        extra[key.replace("-", "_")] = value
    verify: bool | str = False if insecure else (ca_file or True)
    destination = kinds[kind_name].open(
        url, settings=extra, username=username, password=password, token=token,
        verify=verify, timeout=timeout,
    )  # fmt: skip
    query = build_query({**options, "paths": paths})
    keep = None if query.log_filter.empty else query.log_filter
    stop = threading.Event()
    if follow:
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with contextlib.ExitStack() as held:
            if hasattr(destination, "__enter__"):  # a plugin's destination may hold nothing
                held.enter_context(destination)  # type: ignore[arg-type]
            report = ship_logs(
                list(paths), destination, state_dir=state_dir or default_data_dir() / "ship",
                host=query.hostname, by_host=query.by_host, follow=follow, stop=stop, keep=keep,
                batch_size=batch_size, tz=query.tz,
            )  # fmt: skip
    except KeyboardInterrupt:
        click.echo("stacktender: interrupted; delivered lines are checkpointed", err=True)
        raise SystemExit(130) from None
    rows = [f.as_dict() for f in report.files.values()]
    click.echo(render_rows(rows, SHIP_COLUMNS, fmt, columns))
    click.echo(
        f"{report.sent} records sent to {mask_url(destination.name)}, {report.failed} refused"
        f" (kept in {report.rejected_file}), {report.skipped} filtered out",
        err=True,
    )
    query.stats = report.stats
    _report_problems(query)
