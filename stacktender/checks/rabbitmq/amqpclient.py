"""AMQP 0-9-1 access through py-amqp: connect within the time budget, map failures.

py-amqp directly rather than kombu on top of it: a check needs one connection and a
channel, not kombu's transports (whose first use costs ~90 ms of imports), nor its
``connect()``, which retries once after sleeping two seconds. Every socket gets the
check's remaining time as its connect, handshake, read and write timeout.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

from stacktender.errors import ServiceUnreachable
from stacktender.secrets import mask_url

if TYPE_CHECKING:
    import amqp  # type: ignore[import-untyped]

    from stacktender.checks.base import CheckContext

__all__ = ["DEFAULT_AMQP_URL", "AmqpLink", "amqp_url", "connect"]

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def amqp_url(ctx: CheckContext, *, target_first: bool = False) -> str:
    """The AMQP URL of the target: the target URL itself when it is ``amqp[s]://`` and
    target_first, else the target extra ``amqp_url``, else one derived from the
    management URL (same host and credentials, port 5672, vhost ``/``)."""
    target = ctx.target
    if target_first and target.scheme in {"amqp", "amqps"}:
        return target.url
    configured = target.extra.get("amqp_url")
    if configured:
        return str(configured)
    if target.scheme in {"amqp", "amqps"}:
        return target.url
    user = target.username or "guest"
    password = target.password if target.username is not None else "guest"
    host = f"[{target.host}]" if ":" in target.host else target.host
    return f"amqp://{quote(user, safe='')}:{quote(password or '', safe='')}@{host}:5672/"


class AmqpLink:
    """One open AMQP connection with how to name it in messages."""

    def __init__(self, conn: amqp.Connection, shown: str, user: str, vhost: str) -> None:
        self.conn = conn
        self.shown = shown
        self.user = user
        self.vhost = vhost
        self.blocked_reason: str | None = None
        self.connect_seconds = 0.0

    def channel(self) -> Any:
        """A new channel (py-amqp's Channel: queue_declare, basic_publish...)."""
        return self.conn.channel()

    @property
    def server(self) -> str:
        """``RabbitMQ 3.10.8`` from the server properties of the handshake."""
        props = self.conn.server_properties or {}
        product, version = props.get("product", "AMQP broker"), props.get("version", "")
        return f"{_text(product)} {_text(version)}".strip()


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


@contextlib.contextmanager
def connect(ctx: CheckContext, url: str, vhost: str | None = None) -> Iterator[AmqpLink]:
    """Open an AMQP connection (to vhost instead of the URL's when given), closed after."""
    import amqp  # type: ignore[import-untyped]

    parts = urlsplit(url)
    vhost_name = vhost if vhost is not None else (unquote(parts.path[1:]) or "/")
    user = unquote(parts.username) if parts.username is not None else "guest"
    shown = mask_url(url) + (f" (vhost {vhost})" if vhost is not None else "")
    link_box: list[AmqpLink] = []

    def on_blocked(reason: str) -> None:
        if link_box:
            link_box[0].blocked_reason = _text(reason)

    budget = ctx.remaining()
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
    conn = amqp.Connection(
        host=f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        userid=user,
        password=unquote(parts.password) if parts.password is not None else "guest",
        virtual_host=vhost_name,
        ssl=parts.scheme == "amqps",
        connect_timeout=budget,
        read_timeout=budget,
        write_timeout=budget,
        on_blocked=on_blocked,
    )
    link = AmqpLink(conn, shown, user, vhost_name)
    link_box.append(link)
    try:
        started = time.monotonic()
        with amqp_errors(ctx, link, connecting=True):
            conn.connect()
        link.connect_seconds = time.monotonic() - started
        yield link
    except BaseException:
        # Drop the socket without the close handshake: the broker may be what hangs.
        with contextlib.suppress(Exception):
            conn.collect()
        raise
    else:
        with contextlib.suppress(Exception):
            conn.close()


@contextlib.contextmanager
def amqp_errors(ctx: CheckContext, link: AmqpLink, *, connecting: bool = False) -> Iterator[None]:
    """Turn socket and AMQP errors into one-line ServiceUnreachable reasons."""
    import amqp.exceptions  # type: ignore[import-untyped]

    try:
        yield
    except amqp.exceptions.AccessRefused as exc:
        if connecting:
            raise ServiceUnreachable(
                f"RabbitMQ at {link.shown} refused the login of user {link.user!r} "
                "(ACCESS_REFUSED: wrong user or password)"
            ) from None
        raise ServiceUnreachable(f"RabbitMQ at {link.shown}: {_reply(exc)}") from None
    except amqp.exceptions.AMQPError as exc:
        raise ServiceUnreachable(f"RabbitMQ at {link.shown}: {_reply(exc)}") from None
    except TimeoutError:
        what = "complete the AMQP handshake" if connecting else "answer"
        extra = f" (publishing blocked: {link.blocked_reason})" if link.blocked_reason else ""
        raise ServiceUnreachable(
            f"RabbitMQ at {link.shown} did not {what} within {ctx.timeout:g}s{extra}"
        ) from None
    except OSError as exc:
        reason = (exc.strerror or str(exc) or type(exc).__name__).lower()
        raise ServiceUnreachable(f"cannot connect to RabbitMQ at {link.shown}: {reason}") from None


def _reply(exc: BaseException) -> str:
    text = getattr(exc, "reply_text", None) or str(exc) or type(exc).__name__
    return mask_url(" ".join(str(text).split()))
