"""Rating: a worked invoice, and for arbitrary records totals that add up to the cent."""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stacktender.metering.invoice import rate
from stacktender.metering.pricing import PriceSheet, RatingError, parse_price_sheet
from stacktender.metering.records import Meter, Period, PeriodError, UsageRecord

NOV = Period(2026, 11)
T0 = NOV.start

SHEET = """
currency: EUR
instance:
  flavors:
    m1.tiny: 0.0100
    m1.medium: {default: 0.0800, stopped: 0.0200}
volume:
  types: {ssd: 0.00025}
  default: 0.0001
floating_ip: 0.0050
discounts: {p1: 10}
"""


def rec(
    meter: Meter, resource: str, hours: float, project: str = "p1", **kw: object
) -> UsageRecord:
    return UsageRecord(
        meter=meter,
        project_id=project,
        user_id="u1",
        resource_id=resource,
        start=T0,
        end=T0 + timedelta(hours=hours),
        **kw,  # type: ignore[arg-type]
    )


def test_a_worked_invoice_rounds_each_line_once_and_adds_up() -> None:
    records = [
        rec(Meter.INSTANCE, "r1", 720, flavor="m1.tiny", state="active"),
        rec(Meter.INSTANCE, "r2", 10.5, flavor="m1.tiny", state="active"),
        rec(Meter.INSTANCE, "r3", 100, flavor="m1.medium", state="stopped"),
        rec(Meter.VOLUME, "v1", 720, volume_type="ssd", size_gb=Decimal(10)),
        rec(Meter.FLOATING_IP, "ip1", 4 / 3),
        rec(Meter.INSTANCE, "other", 720, project="p2", flavor="m1.huge", state="active"),
    ]
    invoice = rate(records, parse_price_sheet(SHEET), "p1", NOV)
    rows = [
        (line.meter, line.item, line.state, line.resources, line.quantity, line.unit, line.amount)
        for line in invoice.lines
    ]
    assert rows == [
        # 730.5 h x 0.01 = 7.305 -> 7.31 (each instance alone would round to 7.20 + 0.11)
        (Meter.INSTANCE, "m1.medium", "stopped", 1, Decimal("100.0000"), "hour", Decimal("2.00")),
        (Meter.INSTANCE, "m1.tiny", "active", 2, Decimal("730.5000"), "hour", Decimal("7.31")),
        (Meter.VOLUME, "ssd", None, 1, Decimal("7200.0000"), "GB-hour", Decimal("1.80")),
        # 1 h 20 min x 0.005 = 0.00666... -> 0.01
        (Meter.FLOATING_IP, None, None, 1, Decimal("1.3333"), "hour", Decimal("0.01")),
    ]
    assert invoice.subtotal == Decimal("11.12")
    assert invoice.discount_percent == 10
    assert invoice.discount == Decimal("1.11")  # 1.112 rounded once
    assert invoice.total == Decimal("10.01")
    assert invoice.currency == "EUR"
    assert invoice.period == "2026-11"


def test_rows_end_with_subtotal_discount_and_total() -> None:
    records = [rec(Meter.INSTANCE, "r1", 1, flavor="m1.tiny", state="active")]
    invoice = rate(records, parse_price_sheet(SHEET), "p1", NOV)
    tail = [(row["meter"], row["amount"]) for row in invoice.rows()[-3:]]
    assert tail == [("subtotal", "0.01"), ("discount 10%", "-0.00"), ("total", "0.01")]
    data = invoice.to_dict()
    assert data["total"] == "0.01" and data["lines"][0]["unit_price"] == "0.0100"


def test_figures_are_written_in_plain_notation() -> None:
    sheet = parse_price_sheet("currency: EUR\nfloating_ip: 3.6e3\nimage: 1e-7\n")
    usage = [rec(Meter.FLOATING_IP, "ip", 1), rec(Meter.IMAGE, "img", 1, size_gb=Decimal(1))]
    rows = rate(usage, sheet, "p1", NOV).to_dict()["lines"]
    assert [(r["unit_price"], r["amount"]) for r in rows] == [
        ("0.0000001", "0.00"),
        ("3600", "3600.00"),
    ]


def test_no_usage_is_an_empty_invoice_of_zero() -> None:
    invoice = rate([], parse_price_sheet(SHEET), "p1", NOV)
    assert invoice.lines == ()
    assert (invoice.subtotal, invoice.discount, invoice.total) == (Decimal("0.00"),) * 3


def test_half_a_cent_rounds_up() -> None:
    sheet = parse_price_sheet("currency: EUR\nfloating_ip: 0.005\n")
    invoice = rate([rec(Meter.FLOATING_IP, "ip", 1)], sheet, "p1", NOV)
    assert invoice.total == Decimal("0.01")


def test_a_record_without_a_price_is_a_rating_error() -> None:
    sheet = parse_price_sheet(SHEET, "prices.yaml")
    with pytest.raises(RatingError, match=r"prices\.yaml: no price for flavor 'm1\.huge'"):
        rate([rec(Meter.INSTANCE, "r", 1, flavor="m1.huge")], sheet, "p1", NOV)


def test_a_month_not_begun_is_a_period_error(tmp_path: Path) -> None:
    from stacktender.metering.invoice import invoice_for
    from stacktender.store.db import Store

    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        sheet = parse_price_sheet(SHEET)
        with pytest.raises(PeriodError, match="period 2099-01 has not begun"):
            invoice_for(store, sheet, "p1", Period(2099, 1))
        empty = invoice_for(store, sheet, "p1", NOV)
    assert empty.total == 0 and empty.lines == ()


def test_zero_decimals_bill_whole_units() -> None:
    sheet = parse_price_sheet("currency: JPY\ndecimals: 0\nfloating_ip: 0.7\n")
    invoice = rate([rec(Meter.FLOATING_IP, "ip", 1)], sheet, "p1", NOV)
    assert invoice.total == Decimal(1) and invoice.total.as_tuple().exponent == 0


# -- property: any records, any prices ------------------------------------------------------

FLAVORS = ["m1.tiny", "m1.small", "x"]
STATES = ["active", "stopped", "shelved", None]
TYPES = ["ssd", "hdd", None]
# few places and round durations make exact half cents (where rounding rules differ) common
prices = st.one_of(
    st.decimals(min_value=0, max_value=10, places=6, allow_nan=False, allow_infinity=False),
    st.decimals(min_value=0, max_value=1, places=3, allow_nan=False, allow_infinity=False),
)


@st.composite
def sheets(draw: st.DrawFn) -> PriceSheet:
    from stacktender.metering.pricing import FlavorPrice

    return PriceSheet(
        currency="EUR",
        decimals=draw(st.sampled_from([0, 2, 3])),
        flavors={f: FlavorPrice(draw(prices), {"stopped": draw(prices)}) for f in FLAVORS[:2]},
        flavor_default=draw(prices),
        state_percent={"shelved": draw(st.decimals(0, 100, places=2))},
        volume_types={"ssd": draw(prices)},
        volume_default=draw(prices),
        snapshot=draw(prices),
        backup=draw(prices),
        image=draw(prices),
        floating_ip=draw(prices),
        discounts={
            "p1": draw(
                st.sampled_from(["0", "5", "10", "12.5", "50"]).map(Decimal)
                | st.decimals(0, 100, places=3)
            )
        },
    )


@st.composite
def records(draw: st.DrawFn) -> UsageRecord:
    meter = draw(st.sampled_from(list(Meter)))
    start = T0 + timedelta(microseconds=draw(st.integers(0, 20 * 86_400 * 10**6)))
    length = draw(
        st.one_of(
            st.integers(0, 10 * 86_400 * 10**6).map(lambda us: timedelta(microseconds=us)),
            st.integers(0, 1000).map(lambda n: timedelta(seconds=36 * n)),  # n hundredths of hours
        )
    )
    return UsageRecord(
        meter=meter,
        project_id=draw(st.sampled_from(["p1", "p1", "p2"])),
        user_id=None,
        resource_id=draw(st.sampled_from(["a", "b", "c", "d"])),
        start=start,
        end=start + length,
        flavor=draw(st.sampled_from(FLAVORS)) if meter is Meter.INSTANCE else None,
        state=draw(st.sampled_from(STATES)) if meter is Meter.INSTANCE else None,
        volume_type=draw(st.sampled_from(TYPES)) if meter is Meter.VOLUME else None,
        size_gb=Decimal(draw(st.integers(0, 2000))) if meter is not Meter.INSTANCE else Decimal(0),
    )


def half_up(value: Fraction, decimals: int) -> Fraction:
    """Round a non-negative exact fraction half up, independently of decimal."""
    scale = 10**decimals
    return Fraction(math.floor(value * scale + Fraction(1, 2)), scale)


@settings(max_examples=300, deadline=None)
@given(sheet=sheets(), usage=st.lists(records(), max_size=40))
def test_totals_equal_the_rounded_lines_to_the_cent(
    sheet: PriceSheet, usage: list[UsageRecord]
) -> None:
    invoice = rate(usage, sheet, "p1", NOV)
    mine = [r for r in usage if r.project_id == "p1"]
    exact_total = Fraction(0)
    counted = 0
    for line in invoice.lines:
        members = [
            r
            for r in mine
            if r.meter is line.meter
            and (r.flavor if r.meter is Meter.INSTANCE else r.volume_type) == line.item
            and r.state == line.state
        ]
        assert members
        counted += len(members)
        assert line.resources == len({r.resource_id for r in members})
        seconds = sum(
            Fraction((r.end - r.start) // timedelta(microseconds=1), 10**6)
            * (
                Fraction(r.size_gb)
                if r.meter is not Meter.INSTANCE and r.meter is not Meter.FLOATING_IP
                else 1
            )
            for r in members
        )
        exact = seconds / 3600 * Fraction(sheet.unit_price(members[0]))
        assert Fraction(line.amount) == half_up(exact, sheet.decimals)
        assert line.amount.as_tuple().exponent == -sheet.decimals
        assert abs(Fraction(line.quantity) - seconds / 3600) <= Fraction(1, 20000)
        exact_total += Fraction(line.amount)
    assert counted == len(mine)  # every record of the project is on exactly one line
    assert Fraction(invoice.subtotal) == exact_total
    percent = Fraction(sheet.discount_percent("p1"))
    assert Fraction(invoice.discount) == half_up(
        Fraction(invoice.subtotal) * percent / 100, sheet.decimals
    )
    assert invoice.total == invoice.subtotal - invoice.discount
    assert Fraction(invoice.total) == exact_total - Fraction(invoice.discount)
    for amount in (invoice.subtotal, invoice.discount, invoice.total):
        assert amount.as_tuple().exponent == -sheet.decimals
    assert invoice.total >= 0
