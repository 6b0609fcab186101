"""The REST API: usage and invoices by project and month, behind Keystone tokens.

``create_app(store, sheet, auth)`` builds the FastAPI application; handlers parse input,
check what the caller may see, call the metering library and return pydantic models.
Rules: an admin token (role ``admin``) sees every project, any other valid token only
its own project (403 otherwise), no or a bad token gets 401 with
``WWW-Authenticate: Keystone uri=...``; Keystone or the store not answering is 503; a
bad period is 400 (a malformed one 422). Every error body is ``{"detail": "..."}``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from fastapi import Depends, FastAPI, Path, Query, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader

from stacktender import __version__
from stacktender.errors import StacktenderError, StoreError
from stacktender.metering.pricing import RatingError
from stacktender.metering.records import Period, PeriodError
from stacktender.web.auth import Caller, Forbidden, InvalidToken, KeystoneUnavailable
from stacktender.web.models import ErrorBody, Health, InvoiceOut, ProjectsOut, UsageOut

if TYPE_CHECKING:
    from stacktender.metering.pricing import PriceSheet
    from stacktender.store.db import Store

__all__ = ["Authenticator", "create_app"]

# a month from 1970 on, as Period.parse accepts: the description is exact, so a 400 is rare
PERIOD_PATTERN = r"^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])$"
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "A month before 1970, or (invoices) not begun yet."},
    401: {
        "model": ErrorBody,
        "description": "No token, or one Keystone does not accept.",
        "headers": {
            "WWW-Authenticate": {
                "description": 'Where to get a token: Keystone uri="..."',
                "schema": {"type": "string"},
            }
        },
    },
    403: {"model": ErrorBody, "description": "The token's project is not the one asked for."},
    409: {"model": ErrorBody, "description": "The price sheet has no price for some usage."},
    503: {"model": ErrorBody, "description": "Keystone or the store did not answer."},
}
_STATUS: list[tuple[type[Exception], int]] = [
    (InvalidToken, 401),
    (Forbidden, 403),
    (PeriodError, 400),
    (RatingError, 409),
    (KeystoneUnavailable, 503),
    (StoreError, 503),
]


_TOKEN_HEADER = APIKeyHeader(name="X-Auth-Token", auto_error=False, description="A Keystone token.")


def _caller(request: Request, token: Annotated[str | None, Security(_TOKEN_HEADER)]) -> Caller:
    auth: Authenticator = request.app.state.auth
    return auth.validate(token)


Authed = Annotated["Caller", Depends(_caller)]
PeriodQuery = Annotated[
    "str | None",
    Query(pattern=PERIOD_PATTERN, description="YYYY-MM (UTC); default: this month."),
]


class Authenticator(Protocol):
    """What the API needs from token validation (KeystoneAuth is the real one)."""

    @property
    def www_authenticate(self) -> str: ...

    def validate(self, token: str | None) -> Caller: ...

    def project_name(self, project_id: str) -> str | None: ...


def create_app(store: Store, sheet: PriceSheet, auth: Authenticator) -> FastAPI:
    """The FastAPI application serving the store's usage rated with sheet."""
    app = FastAPI(
        title="stacktender metering API",
        version=__version__,
        description="Usage and invoices of OpenStack projects, metered from notifications. "
        "Send a Keystone token in X-Auth-Token.",
    )
    app.state.auth = auth

    @app.exception_handler(StacktenderError)
    def _library_error(request: Request, exc: StacktenderError) -> JSONResponse:
        from stacktender.secrets import redact

        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
        headers = {"WWW-Authenticate": auth.www_authenticate} if status == 401 else None
        return JSONResponse({"detail": redact(str(exc))}, status_code=status, headers=headers)

    @app.get("/healthz", response_model=Health, responses={503: _ERRORS[503]}, tags=["health"])
    def healthz() -> Health:
        """Whether the API and its store answer (no token needed)."""
        store.ping()
        return Health(status="ok", store=store.masked_url)

    @app.get(
        "/v1/projects",
        response_model=ProjectsOut,
        responses={k: _ERRORS[k] for k in (400, 401, 503)},
        tags=["usage"],
    )
    def projects(who: Authed, period: PeriodQuery = None) -> ProjectsOut:
        """Projects with usage in the month: all of them for an admin, else the token's own."""
        from stacktender.metering.usage import usage_projects

        month = _period(period)
        ids = usage_projects(store, month.start, month.end)
        return ProjectsOut(period=str(month), projects=[p for p in ids if who.may_see(p)])

    @app.get(
        "/v1/usage",
        response_model=UsageOut,
        responses={k: _ERRORS[k] for k in (400, 401, 403, 503)},
        tags=["usage"],
    )
    def usage(
        who: Authed,
        period: PeriodQuery = None,
        project_id: Annotated[
            str | None,
            Query(description="Default: the token's project (an admin's: every project)."),
        ] = None,
    ) -> UsageOut:
        """Usage records of one project (or every project, for an admin) in one month."""
        from stacktender.metering.usage import usage_records

        month = _period(period)
        project = project_id
        if project is not None:
            _allow(who, project)
        elif not who.is_admin:
            project = who.project_id
            if project is None:
                raise Forbidden("the token is not scoped to a project")
        records = usage_records(store, month.start, month.end, project)
        return UsageOut.of(month, project, records)

    @app.get(
        "/v1/projects/{project_id}/invoices/{period}",
        response_model=InvoiceOut,
        responses={k: _ERRORS[k] for k in (400, 401, 403, 409, 503)},
        tags=["invoices"],
    )
    def invoice(
        who: Authed,
        project_id: Annotated[str, Path(description="The project's id.")],
        period: Annotated[str, Path(pattern=PERIOD_PATTERN, description="YYYY-MM (UTC).")],
    ) -> InvoiceOut:
        """A project's invoice for one month, rated with the API's price sheet."""
        from stacktender.metering.invoice import invoice_for

        month = Period.parse(period)
        _allow(who, project_id)
        name = who.project_name if who.project_id == project_id else auth.project_name(project_id)
        return InvoiceOut.of(invoice_for(store, sheet, project_id, month, project_name=name))

    return app


def _period(text: str | None) -> Period:
    if text is None:
        now = datetime.now(UTC)
        return Period(now.year, now.month)
    return Period.parse(text)


def _allow(who: Caller, project_id: str) -> None:
    if not who.may_see(project_id):
        raise Forbidden(f"this token may not see project {project_id}")
