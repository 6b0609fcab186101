"""``stacktender metering invoice``: what one project owes for one month."""

from __future__ import annotations

from pathlib import Path

import click

from stacktender.cli.common import get_app, output_options
from stacktender.render.rows import ROW_FORMATS

# the price sheet, for `metering invoice` and for `api serve` alike
prices_option = click.option(
    "--prices",
    required=True,
    envvar="STACKTENDER_PRICES",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The price sheet (YAML; env STACKTENDER_PRICES).",
)


@click.command("invoice")
@click.option(
    "--project",
    required=True,
    metavar="PROJECT",
    help="Project id; with a cloud (--os-cloud or the config's os_cloud) also a name.",
)
@click.option("--period", required=True, metavar="YYYY-MM", help="The month, in UTC.")
@prices_option
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=10.0,
    show_default=True,
    help="Seconds for Keystone to find a project by name.",
)
@output_options(ROW_FORMATS)
@click.pass_context
def invoice(
    ctx: click.Context,
    project: str,
    period: str,
    prices: Path,
    timeout: float,
    fmt: str,
    columns: tuple[str, ...],
) -> None:
    """Rate a project's usage for one month with a price sheet: one line per meter and
    flavor, state or volume type, each rounded once to the cent (ROUND_HALF_UP); the
    subtotal is the sum of the lines, the total the subtotal less the project's discount.
    json and yaml give the whole invoice with amounts as exact decimal text.

    \b
    Examples:
      stacktender metering invoice --project 5f0b...e1 --period 2026-11 --prices prices.yaml
      stacktender --os-cloud mycloud metering invoice --project acme --period 2026-11 \\
          --prices /etc/stacktender/prices.yaml -f csv > acme-2026-11.csv
    """
    from stacktender.metering.invoice import LINE_COLUMNS, invoice_for
    from stacktender.metering.pricing import load_price_sheet
    from stacktender.metering.projects import resolve_project
    from stacktender.metering.records import Period
    from stacktender.render.rows import render_rows, select_columns

    month = Period.parse(period)
    sheet = load_price_sheet(prices)
    cols = select_columns(LINE_COLUMNS, columns)
    app = get_app(ctx)
    ref = resolve_project(app.os_cloud, project, timeout)
    bill = invoice_for(app.store, sheet, ref.id, month, project_name=ref.name)
    if fmt in ("json", "yaml"):
        import json

        data = bill.to_dict(cols)
        if fmt == "json":
            click.echo(json.dumps(data, indent=2))
        else:
            import yaml

            click.echo(yaml.safe_dump(data, sort_keys=False).rstrip("\n"))
        return
    if fmt == "table":
        who = f"{ref.name} ({ref.id})" if ref.name else ref.id
        click.echo(f"Invoice for project {who}, {month} (UTC), in {bill.currency}")
    click.echo(render_rows(bill.rows(), LINE_COLUMNS, fmt, cols))
