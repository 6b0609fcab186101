"""Rating: usage records times a price sheet gives an invoice, consistent to the cent.

The rules (also in ``docs/metering-rating.md``):

* records are grouped into lines by meter and what prices them: the flavor and state of
  an instance, the type of a volume; snapshots, backups, images and floating IPs are one
  line each;
* a line's amount is its exact quantity (summed from exact seconds, never from the
  rounded hours shown) times the unit price, rounded once to the sheet's decimals with
  ROUND_HALF_UP;
* the subtotal is the sum of the rounded lines; the discount is the subtotal times the
  project's percentage, rounded once the same way; the total is subtotal - discount,
  exactly. So every figure on the invoice adds up to the cent as printed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import TYPE_CHECKING, Any

from stacktender.metering.records import Meter, Period, PeriodError, UsageRecord

if TYPE_CHECKING:
    from stacktender.metering.pricing import PriceSheet
    from stacktender.store.db import Store

__all__ = ["LINE_COLUMNS", "Invoice", "InvoiceLine", "invoice_for", "plain", "rate"]

SECONDS_PER_HOUR = Decimal(3600)
QUANTITY_PLACES = Decimal("0.0001")  # hours and GB-hours as shown; amounts use the exact sum
# Enough digits that a month of GB-seconds times a price never loses one before rounding.
_PRECISION = 60
_GB_METERS = {Meter.VOLUME, Meter.SNAPSHOT, Meter.BACKUP, Meter.IMAGE}
_ORDER = {meter: index for index, meter in enumerate(Meter)}
LINE_COLUMNS = (
    "meter",
    "item",
    "state",
    "resources",
    "quantity",
    "unit",
    "unit_price",
    "amount",
)


@dataclass(frozen=True)
class InvoiceLine:
    """One line: a meter and what prices it, its quantity, unit price and rounded amount."""

    meter: Meter
    item: str | None  # the flavor (instance) or volume type (volume)
    state: str | None  # the instance state the price depends on
    resources: int  # distinct resources counted in the line
    quantity: Decimal  # hours or GB-hours, rounded to QUANTITY_PLACES for display
    unit: str  # "hour" or "GB-hour"
    unit_price: Decimal
    amount: Decimal  # exact quantity x unit price, rounded once
    exact_quantity: Decimal = field(repr=False, compare=False, default=Decimal(0))

    def row(self) -> dict[str, Any]:
        """The line as a row for listings (Decimals as text, so nothing becomes a float)."""
        return {
            "meter": self.meter.value,
            "item": self.item,
            "state": self.state,
            "resources": self.resources,
            "quantity": plain(self.quantity),
            "unit": self.unit,
            "unit_price": plain(self.unit_price),
            "amount": plain(self.amount),
        }


@dataclass(frozen=True)
class Invoice:
    """What one project owes for one period, in the sheet's currency."""

    project_id: str
    period: str
    start: datetime
    end: datetime
    currency: str
    lines: tuple[InvoiceLine, ...]
    subtotal: Decimal
    discount_percent: Decimal
    discount: Decimal
    total: Decimal
    project_name: str | None = None

    def to_dict(self, columns: Sequence[str] = LINE_COLUMNS) -> dict[str, Any]:
        """The invoice as plain data (amounts as text: JSON has no decimal type)."""
        return {
            "project_id": self.project_id,
            "project_name": self.project_name,
            "period": self.period,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "currency": self.currency,
            "lines": [{c: line.row()[c] for c in columns} for line in self.lines],
            "subtotal": plain(self.subtotal),
            "discount_percent": plain(self.discount_percent),
            "discount": plain(self.discount),
            "total": plain(self.total),
        }

    def rows(self) -> list[dict[str, Any]]:
        """The lines, then subtotal, discount and total rows: one table or CSV file."""
        rows = [line.row() for line in self.lines]
        rows.append({"meter": "subtotal", "amount": plain(self.subtotal)})
        if self.discount_percent:
            rows.append(
                {
                    "meter": f"discount {_percent(self.discount_percent)}%",
                    "amount": f"-{plain(self.discount)}",
                }
            )
        rows.append({"meter": "total", "unit": self.currency, "amount": plain(self.total)})
        return rows


def rate(
    records: Iterable[UsageRecord],
    sheet: PriceSheet,
    project_id: str,
    period: Period,
    *,
    project_name: str | None = None,
) -> Invoice:
    """The invoice of one project for one period from its usage records (others ignored)."""
    groups: dict[tuple[Meter, str | None, str | None], list[UsageRecord]] = {}
    for record in records:
        if record.project_id == project_id:
            groups.setdefault(_line_key(record), []).append(record)
    with localcontext(prec=_PRECISION):
        lines = tuple(
            _line(key, group, sheet)
            for key, group in sorted(groups.items(), key=lambda kv: _sort_key(kv[0]))
        )
        subtotal = sum((line.amount for line in lines), Decimal(0)).quantize(sheet.cent)
        percent = sheet.discount_percent(project_id, project_name)
        discount = _round(subtotal * percent / 100, sheet.cent)
        total = subtotal - discount
    return Invoice(
        project_id=project_id,
        project_name=project_name,
        period=str(period),
        start=period.start,
        end=period.end,
        currency=sheet.currency,
        lines=lines,
        subtotal=subtotal,
        discount_percent=percent,
        discount=discount,
        total=total,
    )


def invoice_for(
    store: Store,
    sheet: PriceSheet,
    project_id: str,
    period: Period,
    *,
    project_name: str | None = None,
    now: datetime | None = None,
) -> Invoice:
    """The invoice of one project for one period from the usage in the store (the
    current month: up to now; a month not begun yet: PeriodError)."""
    from stacktender.metering.usage import usage_records

    if period.start > (now or datetime.now(UTC)):
        raise PeriodError(f"period {period} has not begun: there is nothing to invoice yet")
    records = usage_records(store, period.start, period.end, project_id)
    return rate(records, sheet, project_id, period, project_name=project_name)


def _line_key(record: UsageRecord) -> tuple[Meter, str | None, str | None]:
    if record.meter is Meter.INSTANCE:
        return (record.meter, record.flavor, record.state)
    if record.meter is Meter.VOLUME:
        return (record.meter, record.volume_type, None)
    return (record.meter, None, None)


def _sort_key(key: tuple[Meter, str | None, str | None]) -> tuple[int, str, str]:
    return (_ORDER[key[0]], key[1] or "", key[2] or "")


def _line(
    key: tuple[Meter, str | None, str | None], records: list[UsageRecord], sheet: PriceSheet
) -> InvoiceLine:
    meter, item, state = key
    unit_price = sheet.unit_price(records[0])  # the key decides the price: one per line
    if meter in _GB_METERS:
        seconds = sum((r.seconds * r.size_gb for r in records), Decimal(0))
    else:
        seconds = sum((r.seconds for r in records), Decimal(0))
    quantity = seconds / SECONDS_PER_HOUR
    return InvoiceLine(
        meter=meter,
        item=item,
        state=state,
        resources=len({r.resource_id for r in records}),
        quantity=quantity.quantize(QUANTITY_PLACES, rounding=ROUND_HALF_UP),
        unit="GB-hour" if meter in _GB_METERS else "hour",
        unit_price=unit_price,
        amount=_round(quantity * unit_price, sheet.cent),
        exact_quantity=quantity,
    )


def _round(amount: Decimal, cent: Decimal) -> Decimal:
    return amount.quantize(cent, rounding=ROUND_HALF_UP)


def _percent(value: Decimal) -> str:
    return format(value.normalize(), "f")  # 10, not 1E+1


def plain(value: Decimal) -> str:
    """A decimal as people write it: 0.0000001 and 3600, never 1E-7 or 3.6E+3."""
    return format(value, "f")
