"""Opening a stream socket to a check's target: a unix socket path or a TCP address."""

from __future__ import annotations

import socket

__all__ = ["open_stream"]


def open_stream(address: str | tuple[str, int], timeout: float) -> socket.socket:
    """Connect to a unix socket (a path) or TCP (host, port) with timeout; raises OSError."""
    if isinstance(address, tuple):
        return socket.create_connection(address, timeout=timeout)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except OSError:
        sock.close()
        raise
    return sock
