"""The RabbitMQ management HTTP API: GET JSON within a check's time budget.

Every request gets the check's remaining time as its connect and read timeout, and
every failure becomes a one-line :class:`ServiceUnreachable` (CRITICAL: refused,
timed out, login rejected) or :class:`CheckError` (UNKNOWN: an answer that cannot
be used). Messages show the target URL masked, never the password.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from stacktender.errors import CheckError, ServiceUnreachable

if TYPE_CHECKING:
    import httpx

    from stacktender.checks.base import CheckContext

__all__ = ["DEFAULT_URL", "Management", "vhost_path"]

DEFAULT_URL = "http://guest:guest@127.0.0.1:15672"


def vhost_path(vhost: str) -> str:
    """A vhost as one URL path segment (``/`` becomes ``%2F``)."""
    return quote(vhost, safe="")


class Management:
    """A client of one broker's management API, created inside a check's collect().

    Credentials come from the URL (``http://user:password@host:15672``), guest/guest
    when it names none. A path in the URL is kept as a prefix (reverse proxies).
    The target extra ``verify`` (true, false or a CA file) controls TLS verification.
    """

    def __init__(self, ctx: CheckContext) -> None:
        from stacktender._httpx import import_httpx

        httpx = import_httpx()

        self.ctx = ctx
        target = ctx.target
        if target.scheme not in {"http", "https"}:
            raise CheckError(
                f"{ctx.check.name} needs the management API URL (http[s]://host:15672), "
                f"got {target.masked()}"
            )
        parts = target.parts
        hostport = parts.netloc.rpartition("@")[2]
        self.base = f"{parts.scheme}://{hostport}{parts.path.rstrip('/')}"
        self.shown = target.masked()
        self.user = target.username or "guest"
        password = target.password if target.username is not None else "guest"
        self._client = httpx.Client(
            auth=(self.user, password or ""),
            timeout=httpx.Timeout(ctx.remaining()),
            # Plain http needs no TLS context (loading the CA bundle costs time).
            verify=target.extra.get("verify", True) if parts.scheme == "https" else False,
            headers={"Accept": "application/json"},
            follow_redirects=False,
        )

    def __enter__(self) -> Management:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def request(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        """GET ``/api/<path>``; connection trouble raises ServiceUnreachable."""
        from stacktender._httpx import import_httpx

        httpx = import_httpx()

        url = f"{self.base}/api/{path}"
        try:
            response = self._client.get(url, params=params, timeout=self.ctx.remaining())
        except httpx.TimeoutException:
            raise ServiceUnreachable(
                f"RabbitMQ management API at {self.shown} did not answer within "
                f"{self.ctx.timeout:g}s"
            ) from None
        except httpx.ConnectError as exc:
            raise ServiceUnreachable(
                f"cannot connect to the RabbitMQ management API at {self.shown}: {_reason(exc)}"
            ) from None
        except httpx.HTTPError as exc:
            raise ServiceUnreachable(
                f"RabbitMQ management API at {self.shown} broke the connection: "
                f"{_reason(exc)} (is this the management port?)"
            ) from None
        if response.status_code == 401:
            raise ServiceUnreachable(
                f"RabbitMQ management API at {self.shown} refused the login of user "
                f"{self.user!r} (HTTP 401: wrong password, or the user lacks the "
                "'monitoring' tag)"
            )
        return response

    def get(
        self, path: str, params: dict[str, str] | None = None, *, not_found: str | None = None
    ) -> Any:
        """GET ``/api/<path>`` and decode the JSON answer; any non-2xx is CheckError
        (``not_found`` is its message for HTTP 404)."""
        response = self.request(path, params)
        if response.status_code == 404:
            raise CheckError(not_found or f"RabbitMQ management API has no /api/{path} (HTTP 404)")
        if response.status_code >= 300:
            raise CheckError(
                f"RabbitMQ management API answered HTTP {response.status_code} for "
                f"/api/{path}: {_error_text(response)}"
            )
        return decode(response, path)

    def vhosts(self) -> list[str]:
        """Names of every virtual host."""
        return sorted(str(v["name"]) for v in self.get("vhosts", {"columns": "name"}))


def decode(response: httpx.Response, path: str) -> Any:
    """The JSON body of response, or CheckError naming the endpoint."""
    try:
        return response.json()
    except ValueError:
        raise CheckError(
            f"RabbitMQ management API answered /api/{path} with something that is not JSON"
        ) from None


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text.split())[:200] or response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("reason") or body.get("error") or body)[:200]
    return str(body)[:200]


def _reason(exc: BaseException) -> str:
    """The most useful one-line reason in an exception chain (OS error text first)."""
    seen: BaseException | None = exc
    while seen is not None:
        strerror = getattr(seen, "strerror", None)
        if isinstance(seen, OSError) and strerror:
            return str(strerror).lower()
        seen = seen.__cause__ or seen.__context__
    text = " ".join(str(exc).split())
    if text.startswith("[Errno"):
        text = text.partition("] ")[2] or text
    return text.lower() or type(exc).__name__
