"""Price sheets: what one hour (or GB-hour) of each metered thing costs, read from YAML.

Every number is a :class:`~decimal.Decimal` taken from the YAML text itself (a YAML
float is never turned into a binary float), so ``0.1`` in the file is exactly 0.1.
A sheet that cannot be used raises :class:`PriceSheetError` with one line naming the
file, the line and the key; rating a record the sheet has no price for raises
:class:`RatingError`. The format is described in ``docs/metering-rating.md``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from stacktender.errors import StacktenderError
from stacktender.metering.records import Meter, UsageRecord

__all__ = [
    "FlavorPrice",
    "PriceSheet",
    "PriceSheetError",
    "RatingError",
    "load_price_sheet",
    "parse_price_sheet",
]

_HUNDRED = Decimal(100)
_CURRENCY = re.compile(r"[A-Z]{3}")
# The top-level keys and, for each mapping below them, the keys it may hold.
_TOP_KEYS = {
    "currency",
    "decimals",
    "instance",
    "volume",
    "snapshot",
    "backup",
    "image",
    "floating_ip",
    "discounts",
}
_INSTANCE_KEYS = {"flavors", "states", "default"}
_VOLUME_KEYS = {"types", "default"}


class PriceSheetError(StacktenderError):
    """A price sheet that cannot be read or used (one line: file, line, key, problem)."""


class RatingError(StacktenderError):
    """A usage record the price sheet has no price for."""


@dataclass(frozen=True)
class FlavorPrice:
    """The hourly price of one flavor: one price, or one per instance state."""

    default: Decimal
    states: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class PriceSheet:
    """Prices per hour (instances, floating IPs) and per GB-hour (storage), one currency."""

    currency: str
    decimals: int = 2
    flavors: Mapping[str, FlavorPrice] = field(default_factory=dict)
    flavor_default: Decimal | None = None
    state_percent: Mapping[str, Decimal] = field(default_factory=dict)
    volume_types: Mapping[str, Decimal] = field(default_factory=dict)
    volume_default: Decimal | None = None
    snapshot: Decimal | None = None
    backup: Decimal | None = None
    image: Decimal | None = None
    floating_ip: Decimal | None = None
    discounts: Mapping[str, Decimal] = field(default_factory=dict)
    source: str = "<price sheet>"

    @property
    def cent(self) -> Decimal:
        """The smallest amount of the currency as this sheet bills it (0.01 for 2 decimals)."""
        return Decimal(1).scaleb(-self.decimals)

    def unit_price(self, record: UsageRecord) -> Decimal:
        """The price of one hour (instance, IP) or one GB-hour (storage) of the record."""
        if record.meter is Meter.INSTANCE:
            return self._instance_price(record.flavor, record.state)
        if record.meter is Meter.VOLUME:
            price = self.volume_types.get(record.volume_type or "", self.volume_default)
            if price is None:
                raise RatingError(
                    f"{self.source}: no price for volume type {record.volume_type!r} "
                    "(add it under volume.types or set volume.default)"
                )
            return price
        price = getattr(self, record.meter.value)
        if price is None:
            raise RatingError(
                f"{self.source}: no price for {record.meter.value} "
                f"(set {record.meter.value}: 0 not to bill it)"
            )
        assert isinstance(price, Decimal)
        return price

    def _instance_price(self, flavor: str | None, state: str | None) -> Decimal:
        entry = self.flavors.get(flavor or "")
        if entry is not None and state in entry.states:
            return entry.states[state or ""]
        base = entry.default if entry is not None else self.flavor_default
        if base is None:
            raise RatingError(
                f"{self.source}: no price for flavor {flavor!r} "
                "(add it under instance.flavors or set instance.default)"
            )
        if state in self.state_percent:
            return base * self.state_percent[state or ""] / _HUNDRED
        return base

    def discount_percent(self, project_id: str, project_name: str | None = None) -> Decimal:
        """The project's discount in percent (by id, then by name; 0 when none)."""
        if project_id in self.discounts:
            return self.discounts[project_id]
        if project_name and project_name in self.discounts:
            return self.discounts[project_name]
        return Decimal(0)


def load_price_sheet(path: str | Path) -> PriceSheet:
    """Read and check a price sheet file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PriceSheetError(f"{path}: cannot read the price sheet: {reason}") from None
    return parse_price_sheet(text, str(path))


def parse_price_sheet(text: str, source: str = "<price sheet>") -> PriceSheet:
    """Check a price sheet given as YAML text; source names it in error messages."""
    from stacktender.metering._sheet_yaml import load

    data, lines = load(text, source, PriceSheetError)
    return _Reader(source, lines).sheet(data)


class _Reader:
    """Turns the plain YAML data into a PriceSheet, failing on the first bad key."""

    def __init__(self, source: str, lines: Mapping[str, int]) -> None:
        self.source = source
        self.lines = lines

    def fail(self, key: str, problem: str) -> PriceSheetError:
        line = self.lines.get(key)
        where = f"{self.source}:{line}" if line else self.source
        return PriceSheetError(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")

    def mapping(self, value: Any, key: str, allowed: set[str] | None = None) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a mapping, got {_kind(value)}")
        for name in value:
            if not isinstance(name, str):
                raise self.fail(key, f"keys must be text, got {name!r}")
            if allowed is not None and name not in allowed:
                where = f"{key}.{name}" if key else name
                raise self.fail(where, f"unknown key (known: {', '.join(sorted(allowed))})")
        return value

    def price(self, value: Any, key: str) -> Decimal:
        number = self.number(value, key)
        if number < 0:
            raise self.fail(key, f"negative price {value}")
        return number

    def number(self, value: Any, key: str) -> Decimal:
        if isinstance(value, bool) or value is None:
            raise self.fail(key, f"not a number: {_kind(value)}")
        if isinstance(value, Decimal | int):
            number = Decimal(value)
        elif isinstance(value, str):
            try:
                number = Decimal(value.strip())
            except InvalidOperation:
                raise self.fail(key, f"not a number: {value!r}") from None
        else:
            raise self.fail(key, f"not a number: {_kind(value)}")
        if not number.is_finite():
            raise self.fail(key, f"not a finite number: {value}")
        return number

    def percent(self, value: Any, key: str) -> Decimal:
        number = self.number(value, key)
        if not 0 <= number <= _HUNDRED:
            raise self.fail(key, f"a percentage must be between 0 and 100, got {value}")
        return number

    def optional_price(self, data: Mapping[str, Any], name: str, prefix: str) -> Decimal | None:
        return self.price(data[name], prefix + name) if name in data else None

    def sheet(self, data: Any) -> PriceSheet:
        top = self.mapping(data, "", _TOP_KEYS)
        if not top:
            raise self.fail("", "empty price sheet (it needs at least a currency)")
        currency = top.get("currency")
        if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
            raise self.fail(
                "currency", f"expected a three-letter ISO 4217 code such as EUR, got {currency!r}"
            )
        decimals = top.get("decimals", 2)
        if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 4:
            raise self.fail("decimals", f"expected a whole number from 0 to 4, got {decimals!r}")
        instance = self.mapping(top.get("instance"), "instance", _INSTANCE_KEYS)
        volume = self.mapping(top.get("volume"), "volume", _VOLUME_KEYS)
        flavors = self.mapping(instance.get("flavors"), "instance.flavors")
        states = self.mapping(instance.get("states"), "instance.states")
        types = self.mapping(volume.get("types"), "volume.types")
        discounts = self.mapping(top.get("discounts"), "discounts")
        return PriceSheet(
            currency=currency,
            decimals=decimals,
            flavors={
                str(name): self.flavor(value, f"instance.flavors.{name}")
                for name, value in flavors.items()
            },
            flavor_default=self.optional_price(instance, "default", "instance."),
            state_percent={
                str(s): self.percent(v, f"instance.states.{s}") for s, v in states.items()
            },
            volume_types={str(t): self.price(v, f"volume.types.{t}") for t, v in types.items()},
            volume_default=self.optional_price(volume, "default", "volume."),
            snapshot=self.optional_price(top, "snapshot", ""),
            backup=self.optional_price(top, "backup", ""),
            image=self.optional_price(top, "image", ""),
            floating_ip=self.optional_price(top, "floating_ip", ""),
            discounts={str(p): self.percent(v, f"discounts.{p}") for p, v in discounts.items()},
            source=self.source,
        )

    def flavor(self, value: Any, key: str) -> FlavorPrice:
        if not isinstance(value, dict):
            return FlavorPrice(self.price(value, key))
        states = self.mapping(value, key)
        if "default" not in states:
            raise self.fail(
                key,
                "a price per state needs a 'default' (the price in every state not listed)",
            )
        return FlavorPrice(
            self.price(states["default"], f"{key}.default"),
            {s: self.price(v, f"{key}.{s}") for s, v in states.items() if s != "default"},
        )


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)
