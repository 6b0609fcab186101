"""Response bodies of the REST API (pydantic), so the OpenAPI description is exact.

Amounts, prices, quantities and sizes are decimals; pydantic writes them as JSON
strings ("12.34"), so no client ever reads a rounded binary float.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field, PlainSerializer

from stacktender.metering.invoice import Invoice
from stacktender.metering.records import Meter, Period, UsageRecord

# Decimals as JSON strings in plain notation ("0.0000001", "3600"; never "1E-7")
Dec = Annotated[
    Decimal, PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json")
]

__all__ = [
    "ErrorBody",
    "Health",
    "InvoiceLineOut",
    "InvoiceOut",
    "ProjectsOut",
    "UsageOut",
    "UsageRecordOut",
]


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer of the API (except 422, which FastAPI describes)."""

    detail: str = Field(description="What went wrong, in one line.")


class Health(BaseModel):
    status: str = Field(description="'ok' when the store answers.")
    store: str = Field(description="The store, its password masked.")


class UsageRecordOut(BaseModel):
    meter: Meter
    project_id: str
    user_id: str | None
    resource_id: str
    name: str | None
    start: datetime
    end: datetime
    open: bool = Field(description="No deletion seen: the record runs to the period's end or now.")
    flavor: str | None
    state: str | None
    volume_type: str | None
    size_gb: Dec
    hours: Dec = Field(description="Length in hours (exact to the microsecond, 6 places).")

    @classmethod
    def of(cls, record: UsageRecord) -> UsageRecordOut:
        return cls(
            meter=record.meter,
            project_id=record.project_id,
            user_id=record.user_id,
            resource_id=record.resource_id,
            name=record.name,
            start=record.start,
            end=record.end,
            open=record.open,
            flavor=record.flavor,
            state=record.state,
            volume_type=record.volume_type,
            size_gb=record.size_gb,
            hours=(record.seconds / 3600).quantize(Decimal("0.000001")),
        )


class UsageOut(BaseModel):
    period: str
    start: datetime
    end: datetime
    project_id: str | None = Field(description="The project asked for; null: every project.")
    records: list[UsageRecordOut]

    @classmethod
    def of(cls, period: Period, project_id: str | None, records: list[UsageRecord]) -> UsageOut:
        return cls(
            period=str(period),
            start=period.start,
            end=period.end,
            project_id=project_id,
            records=[UsageRecordOut.of(r) for r in records],
        )


class InvoiceLineOut(BaseModel):
    meter: Meter
    item: str | None = Field(description="The flavor (instance) or volume type (volume).")
    state: str | None = Field(description="The instance state the price depends on.")
    resources: int
    quantity: Dec = Field(description="Hours or GB-hours, 4 places.")
    unit: str
    unit_price: Dec
    amount: Dec = Field(description="Exact quantity x unit price, rounded once (half up).")


class InvoiceOut(BaseModel):
    project_id: str
    project_name: str | None
    period: str
    start: datetime
    end: datetime
    currency: str
    lines: list[InvoiceLineOut]
    subtotal: Dec = Field(description="The sum of the lines' amounts.")
    discount_percent: Dec
    discount: Dec = Field(description="subtotal x discount_percent / 100, rounded once.")
    total: Dec = Field(description="subtotal - discount, exactly.")

    @classmethod
    def of(cls, invoice: Invoice) -> InvoiceOut:
        return cls(
            project_id=invoice.project_id,
            project_name=invoice.project_name,
            period=invoice.period,
            start=invoice.start,
            end=invoice.end,
            currency=invoice.currency,
            lines=[
                InvoiceLineOut(
                    meter=line.meter,
                    item=line.item,
                    state=line.state,
                    resources=line.resources,
                    quantity=line.quantity,
                    unit=line.unit,
                    unit_price=line.unit_price,
                    amount=line.amount,
                )
                for line in invoice.lines
            ],
            subtotal=invoice.subtotal,
            discount_percent=invoice.discount_percent,
            discount=invoice.discount,
            total=invoice.total,
        )


class ProjectsOut(BaseModel):
    period: str
    projects: list[str] = Field(description="Ids of the projects with usage the caller may see.")
