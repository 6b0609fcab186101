"""Read a log file by byte offsets: complete lines only, resumable, plain or compressed.

The shipper needs what :mod:`stacktender.logs.sources` does not give: the byte
offset of every line, a way to start at an offset, the certainty that a line still
being written is left for later, and the identity of the file (device, inode and
head digest). Plain files are read with ``pread``-style seeks and may grow between
reads; compressed files (recognised by magic bytes like ``sources`` does) are read
once, in order, and their offsets count decompressed bytes.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import zlib
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from stacktender.logs.ship.checkpoint import HEAD_BYTES, TAIL_BYTES, digest
from stacktender.logs.sources import MAX_LINE

__all__ = ["UNREADABLE", "Line", "LogFile"]

_MAGIC: list[tuple[bytes, Callable[[BinaryIO], io.BufferedIOBase]]] = [
    (b"\x1f\x8b", lambda raw: gzip.GzipFile(fileobj=raw, mode="rb")),
    (b"BZh", bz2.BZ2File),
    (b"\xfd7zXZ\x00", lzma.LZMAFile),
]
UNREADABLE: tuple[type[Exception], ...] = (EOFError, OSError, zlib.error, lzma.LZMAError)
"""What reading a damaged or truncated compressed file raises."""

Line = tuple[bytes, int, int, bytes]
"""(the line as read, at most MAX_LINE bytes; start offset; end offset; its last bytes)."""


class LogFile:
    """One open log file; ``pos`` is the offset of the next line to read."""

    def __init__(self, path: str, *, max_line: int = MAX_LINE) -> None:
        self.path = path
        self.max_line = max_line
        self.raw: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by close()
        try:
            fd = self.raw.fileno()
            st = os.fstat(fd)
            magic = os.pread(fd, 6, 0)
        except OSError:
            self.raw.close()
            raise
        self.dev: int = st.st_dev
        self.ino: int = st.st_ino
        self._opener = next((op for m, op in _MAGIC if magic.startswith(m)), None)
        self.pos = 0
        self._stream: BinaryIO | None = None

    @property
    def compressed(self) -> bool:
        return self._opener is not None

    @property
    def identity(self) -> tuple[int, int]:
        return (self.dev, self.ino)

    def size(self) -> int:
        """Bytes on disk now (compressed size for a compressed file)."""
        return os.fstat(self.raw.fileno()).st_size

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        self.raw.close()

    def _decompressed(self) -> BinaryIO:
        assert self._opener is not None
        # pread keeps each stream's position its own: a dup()ed descriptor would share it
        inner = io.BufferedReader(_PositionalReader(self.raw.fileno()))
        return io.BufferedReader(self._opener(inner))  # type: ignore[arg-type]

    def head(self) -> str | None:
        """Digest of the first line (at most HEAD_BYTES of it); None while incomplete."""
        data = self.prefix(HEAD_BYTES)
        newline = data.find(b"\n")
        if newline >= 0:
            return digest(data[: newline + 1])
        if len(data) >= HEAD_BYTES or (data and self._opener is not None):
            # a long first line, or a compressed file whose only line lacks a newline
            return digest(data)
        return None

    def prefix(self, size: int) -> bytes:
        """The first ``size`` bytes of the (decompressed) content, fewer if it is shorter."""
        if self._opener is None:
            return os.pread(self.raw.fileno(), size, 0)
        with self._decompressed() as stream:
            return stream.read(size)

    def resume(self, offset: int, tail: str, tail_len: int) -> bool:
        """Go to ``offset`` if the bytes before it still digest to ``tail``; else to 0."""
        if offset <= 0:
            self._rewind()
            return offset == 0
        if self._opener is None:
            if self.size() < offset:
                self.pos = 0
                return False
            before = os.pread(self.raw.fileno(), tail_len, offset - tail_len)
            self.pos = offset if digest(before) == tail else 0
            return self.pos == offset
        self._rewind()
        stream = self._stream
        assert stream is not None
        skip = offset - tail_len
        while skip > 0:
            chunk = stream.read(min(skip, 1 << 20))
            if not chunk:
                break
            skip -= len(chunk)
        before = stream.read(tail_len) if skip == 0 else b""
        if skip == 0 and len(before) == tail_len and digest(before) == tail:
            self.pos = offset
            return True
        self._rewind()
        return False

    def _rewind(self) -> None:
        self.pos = 0
        if self._opener is not None:
            if self._stream is not None:
                self._stream.close()
            self._stream = self._decompressed()

    def lines(self, *, final: bool = False) -> Iterator[Line]:
        """Complete lines from ``pos`` on, advancing ``pos`` past each line yielded.

        A last line without its newline is left unread (it is still being written)
        unless ``final`` says the file will not grow: the end of a compressed file
        or of a rotated file is final.
        """
        if self._opener is None:
            self.raw.seek(self.pos)
            stream = self.raw
        else:
            if self._stream is None:
                self._rewind()
            stream = self._stream  # type: ignore[assignment]
            final = True
        readline = stream.readline
        limit = self.max_line
        while True:
            start = self.pos
            chunk = readline(limit)
            if not chunk:
                return
            length = len(chunk)
            if chunk[-1:] == b"\n":
                self.pos = start + length
                yield chunk, start, self.pos, chunk[-TAIL_BYTES:]
                continue
            if length < limit:
                # end of the data without a newline
                if not final:
                    return
                self.pos = start + length
                yield chunk, start, self.pos, chunk[-TAIL_BYTES:]
                return
            # a line longer than the limit: keep its start, skip to its end
            tail = chunk[-TAIL_BYTES:]
            ended = False
            while True:
                rest = readline(limit)
                if not rest:
                    break
                length += len(rest)
                tail = (tail + rest)[-TAIL_BYTES:]
                if rest[-1:] == b"\n":
                    ended = True
                    break
            if not ended and not final:
                return
            self.pos = start + length
            yield chunk, start, self.pos, tail


class _PositionalReader(io.RawIOBase):
    """Reads a descriptor from 0 with ``pread``, leaving the descriptor's offset alone."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = os.pread(self.fd, len(buffer), self.offset)
        buffer[: len(data)] = data
        self.offset += len(data)
        return len(data)
