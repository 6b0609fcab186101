"""Price sheets: the shipped example, exact decimals, prices per state, one-line errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest

from stacktender.errors import StacktenderError
from stacktender.metering.pricing import (
    PriceSheetError,
    RatingError,
    load_price_sheet,
    parse_price_sheet,
)
from stacktender.metering.records import Meter, UsageRecord

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def record(meter: Meter = Meter.INSTANCE, **kwargs: object) -> UsageRecord:
    fields: dict[str, object] = {
        "meter": meter,
        "project_id": "p1",
        "user_id": "u1",
        "resource_id": "r1",
        "start": T0,
        "end": T0 + timedelta(hours=1),
    }
    fields.update(kwargs)
    return UsageRecord(**fields)  # type: ignore[arg-type]


def example_path() -> Path:
    ref = resources.files("stacktender") / "data" / "metering" / "prices.example.yaml"
    return Path(str(ref))


def test_the_shipped_example_sheet_loads_with_exact_prices() -> None:
    sheet = load_price_sheet(example_path())
    assert sheet.currency == "EUR"
    assert sheet.cent == Decimal("0.01")
    assert sheet.unit_price(record(flavor="m1.tiny", state="active")) == Decimal("0.0100")
    assert sheet.unit_price(record(Meter.FLOATING_IP)) == Decimal("0.0050")
    assert sheet.unit_price(record(Meter.VOLUME, volume_type="ssd")) == Decimal("0.00025")
    assert sheet.discount_percent("some-id", "acme") == Decimal(10)


def test_yaml_floats_become_exact_decimals_never_binary_floats() -> None:
    sheet = parse_price_sheet("currency: EUR\nsnapshot: 0.1\nimage: 0.30000000000000000001\n")
    assert sheet.snapshot == Decimal("0.1")
    assert sheet.image == Decimal("0.30000000000000000001")
    assert isinstance(sheet.snapshot, Decimal)


def test_quoted_and_integer_prices_are_accepted() -> None:
    sheet = parse_price_sheet("currency: USD\nbackup: '0.0003'\nfloating_ip: 1\n")
    assert sheet.backup == Decimal("0.0003")
    assert sheet.floating_ip == Decimal(1)


def test_instance_price_by_state_per_flavor_then_percentages_then_the_flavor_price() -> None:
    sheet = parse_price_sheet(
        """
currency: EUR
instance:
  flavors:
    big: {default: 1.00, stopped: 0.10}
    small: 0.40
  states: {stopped: 25, shelved_offloaded: 0}
  default: 2
"""
    )
    price = sheet.unit_price
    assert price(record(flavor="big", state="active")) == Decimal("1.00")
    assert price(record(flavor="big", state="stopped")) == Decimal("0.10")  # its own wins
    assert price(record(flavor="big", state="shelved_offloaded")) == 0
    assert price(record(flavor="small", state="stopped")) == Decimal("0.1")
    assert price(record(flavor="small", state=None)) == Decimal("0.40")
    assert price(record(flavor="unknown", state="active")) == Decimal(2)
    assert price(record(flavor="unknown", state="stopped")) == Decimal("0.5")


def test_unknown_flavor_type_or_meter_without_a_default_is_a_rating_error() -> None:
    sheet = parse_price_sheet(
        "currency: EUR\ninstance: {flavors: {a: 1}}\nvolume: {types: {ssd: 1}}\n", "p.yaml"
    )
    with pytest.raises(RatingError, match=r"p.yaml: no price for flavor 'b'"):
        sheet.unit_price(record(flavor="b"))
    with pytest.raises(RatingError, match=r"no price for volume type 'hdd'"):
        sheet.unit_price(record(Meter.VOLUME, volume_type="hdd"))
    with pytest.raises(RatingError, match=r"no price for image \(set image: 0"):
        sheet.unit_price(record(Meter.IMAGE))


def test_volume_without_a_type_takes_the_default() -> None:
    sheet = parse_price_sheet("currency: EUR\nvolume: {default: 0.5}\n")
    assert sheet.unit_price(record(Meter.VOLUME, volume_type=None)) == Decimal("0.5")


def test_discounts_by_id_before_name_and_none_is_zero() -> None:
    sheet = parse_price_sheet("currency: EUR\ndiscounts: {id-1: 5, acme: 12.5}\n")
    assert sheet.discount_percent("id-1", "acme") == Decimal(5)
    assert sheet.discount_percent("id-2", "acme") == Decimal("12.5")
    assert sheet.discount_percent("id-3") == 0


def test_decimals_decide_the_smallest_amount() -> None:
    assert parse_price_sheet("currency: JPY\ndecimals: 0\n").cent == Decimal(1)
    assert parse_price_sheet("currency: BHD\ndecimals: 3\n").cent == Decimal("0.001")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("currency: EUR\nimage: [1\n", r"^prices.yaml:\d+: invalid YAML: "),
        ("currency: EUR\nflavors: {}\n", r"^prices.yaml:2: flavors: unknown key \(known: "),
        ("currency: EUR\ninstance: {flavor: {}}\n", r"^prices.yaml:2: instance.flavor: unknown"),
        (
            "currency: EUR\ninstance:\n  flavors:\n    m1.tiny: -0.01\n",
            r"^prices.yaml:4: instance.flavors.m1.tiny: negative price -0.01$",
        ),
        ("currency: euro\n", r"^prices.yaml:1: currency: expected a three-letter ISO 4217"),
        ("snapshot: 1\n", r"^prices.yaml: currency: expected a three-letter"),
        ("currency: EUR\nsnapshot: cheap\n", r"^prices.yaml:2: snapshot: not a number: 'cheap'$"),
        ("currency: EUR\nsnapshot: yes\n", r"^prices.yaml:2: snapshot: not a number: a boolean"),
        ("currency: EUR\nsnapshot: .nan\n", r"^prices.yaml:2: snapshot: not a number"),
        ("currency: EUR\nsnapshot: .inf\n", r"^prices.yaml:2: snapshot: not a finite number"),
        ("currency: EUR\nsnapshot:\n", r"^prices.yaml:2: snapshot: not a number: nothing"),
        ("currency: EUR\nvolume: {types: {ssd: [1]}}\n", r"volume.types.ssd: not a number: a list"),
        ("currency: EUR\ncurrency: USD\n", r"^prices.yaml:2: currency: duplicate key$"),
        ("currency: EUR\ndecimals: 7\n", r"^prices.yaml:2: decimals: expected a whole number"),
        ("currency: EUR\ndiscounts: {acme: 101}\n", r"discounts.acme: a percentage must be"),
        ("currency: EUR\ninstance: {states: {stopped: -1}}\n", r"instance.states.stopped: a perc"),
        (
            "currency: EUR\ninstance: {flavors: {x: {stopped: 0}}}\n",
            r"^prices.yaml:2: instance.flavors.x: a price per state needs a 'default'",
        ),
        ("currency: EUR\ninstance: 3\n", r"^prices.yaml:2: instance: expected a mapping, got 3"),
        ("", r"^prices.yaml: empty price sheet"),
        ("- EUR\n", r"^prices.yaml: expected a mapping, got a list$"),
    ],
)
def test_an_invalid_sheet_is_one_line_naming_the_file_and_the_key(text: str, message: str) -> None:
    with pytest.raises(PriceSheetError, match=message) as info:
        parse_price_sheet(text, "prices.yaml")
    assert "\n" not in str(info.value)
    assert isinstance(info.value, StacktenderError)


def test_a_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(PriceSheetError, match=r"nope.yaml: cannot read the price sheet: No such"):
        load_price_sheet(path)
