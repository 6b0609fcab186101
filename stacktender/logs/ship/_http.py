"""HTTP plumbing shared by the destinations: auth, TLS, timeouts, gzip, retries.

Every request has a timeout. Connection errors, timeouts, 429 and 5xx answers are
retried with exponential backoff and jitter (``Retry-After`` is honoured up to the
backoff ceiling); when the retries run out the caller gets a retryable
:class:`DeliveryError`. Any other answer is returned for the destination to judge.
Credentials never appear in messages: a password in the URL moves to basic auth and
the URL is printed without it.
"""

from __future__ import annotations

import gzip
import random
import ssl
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Self, TypedDict, Unpack
from urllib.parse import unquote, urlsplit, urlunsplit

from stacktender.logs.ship.base import DeliveryError, ShipError

if TYPE_CHECKING:
    import httpx


def retryable_status(status: int) -> bool:
    """Whether an HTTP status means "try again later" (429 and 5xx)."""
    return status == 429 or 500 <= status < 600


class HttpOptions(TypedDict, total=False):
    """The auth, TLS, timeout and retry keywords every HTTP destination takes.

    ``username``/``password`` for basic auth (also read from the URL's user part) or a
    bearer ``token``. ``verify`` is ``True``, ``False`` or the path of a CA bundle;
    ``client_cert`` a PEM path or (certificate, key) paths. ``timeout`` bounds every
    request (30 s); 429/5xx answers and network errors are retried ``retries`` times (5)
    with exponential backoff from ``backoff`` (0.5 s) up to ``max_backoff`` (30 s).
    The defaults are applied by :class:`HttpTarget`, the one place that reads them.
    """

    username: str | None
    password: str | None
    token: str | None
    verify: bool | str
    client_cert: str | tuple[str, str] | None
    timeout: float
    retries: int
    backoff: float
    max_backoff: float


class HttpTarget:
    """One base URL with its credentials, TLS settings and retry policy."""

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        **options: Unpack[HttpOptions],
    ) -> None:
        # the destinations pass their **keywords through unchecked at run time
        unknown = sorted(set(options) - HttpOptions.__optional_keys__)
        if unknown:
            raise TypeError(f"unexpected keyword argument(s): {', '.join(unknown)}")
        username = options.get("username")
        password = options.get("password")
        token = options.get("token")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ShipError(f"not an http(s) URL: {_strip_userinfo(url)!r}")
        if parts.username and username is None:
            username = unquote(parts.username)
            password = unquote(parts.password or "") if password is None else password
        if token and username:
            raise ShipError("give either a bearer token or a user name, not both")
        self.base = _strip_userinfo(url).rstrip("/")
        self.retries = max(0, options.get("retries", 5))
        self.backoff = options.get("backoff", 0.5)
        self.max_backoff = options.get("max_backoff", 30.0)
        self.sleep = sleep
        self._auth = (username, password or "") if username else None
        self._headers = {"User-Agent": "stacktender-logs-ship", **(headers or {})}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._verify = _ssl_context(options.get("verify", True), options.get("client_cert"))
        self._timeout = options.get("timeout", 30.0)
        self._client: httpx.Client | None = None

    def client(self) -> httpx.Client:
        if self._client is None:
            from stacktender._httpx import import_httpx

            httpx = import_httpx()
            self._client = httpx.Client(
                auth=self._auth,
                headers=self._headers,
                verify=self._verify,
                timeout=httpx.Timeout(self._timeout),
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        wait = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        wait *= 0.5 + random.random() / 2  # jitter: many shippers must not retry in step
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_backoff))
        return wait

    def request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        content_type: str | None = None,
        compress: bool = False,
        headers: Mapping[str, str] | None = None,
        what: str = "request",
    ) -> httpx.Response:
        """Send, retrying transient failures; return the final non-transient answer."""
        from stacktender._httpx import import_httpx

        httpx = import_httpx()
        url = self.base + path
        send_headers = dict(headers or {})
        if content_type:
            send_headers["Content-Type"] = content_type
        body = content
        if content is not None and compress:
            body = gzip.compress(content, compresslevel=5)
            send_headers["Content-Encoding"] = "gzip"
        problem = ""
        for attempt in range(self.retries + 1):
            retry_after: float | None = None
            try:
                response = self.client().request(method, url, content=body, headers=send_headers)
            except httpx.TimeoutException:
                problem = f"timed out after {self._timeout:g}s"
            except httpx.HTTPError as exc:
                problem = (str(exc).split("\n", 1)[0] or type(exc).__name__).strip()
            else:
                if not retryable_status(response.status_code):
                    return response
                problem = f"HTTP {response.status_code} {short_body(response)}".strip()
                retry_after = _retry_after(response.headers.get("Retry-After"))
            if attempt < self.retries:
                self.sleep(self.delay(attempt + 1, retry_after))
        raise DeliveryError(
            f"{what} to {self.base} failed after {self.retries + 1} attempt(s): {problem}",
            retryable=True,
        )


class HttpDestination:
    """What every HTTP destination shares: its :class:`HttpTarget` as ``http``, and
    closing it (``close()`` or leaving a ``with`` block)."""

    http: HttpTarget

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()


def short_body(response: httpx.Response, limit: int = 300) -> str:
    """The start of an answer's body, on one line, for error messages."""
    try:
        text = response.text
    except Exception:  # an undecodable body must not hide the status
        return ""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from these servers, the backoff covers it


def _strip_userinfo(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def _ssl_context(
    verify: bool | str, client_cert: str | tuple[str, str] | None
) -> ssl.SSLContext | bool:
    # httpx 0.28 deprecates paths for verify/cert: build the context ourselves.
    if verify is True and client_cert is None:
        return True
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        try:
            context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
        except (OSError, ssl.SSLError) as exc:
            raise ShipError(f"cannot load CA bundle {verify}: {exc}") from None
    if client_cert is not None:
        certfile, keyfile = (client_cert, None) if isinstance(client_cert, str) else client_cert
        try:
            context.load_cert_chain(certfile, keyfile)
        except (OSError, ssl.SSLError) as exc:
            raise ShipError(f"cannot load client certificate {certfile}: {exc}") from None
    return context


def json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def destination_name(kind: str, base: str, extra: str = "") -> str:
    """A file-name-safe default destination name: kind, host, port, path, extra."""
    parts = urlsplit(base)
    raw = "-".join(
        p
        for p in (kind, parts.hostname or "", str(parts.port or ""), parts.path.strip("/"), extra)
        if p
    )
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in raw)
