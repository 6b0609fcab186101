"""The compiled path of the unfiltered text merge: MergedText's sources handed to the
C module ``_cmerge`` (built from ``_cmerge.c`` and ``_cmerge_read.c`` when a compiler is
there at install).

The C part reads the sources it may read again from their start (local regular files)
in oslo.log's default text layout, labels their lines, and reorders and merges them
as fastmerge's Python path does, writing large chunks straight to the output's file
descriptor. A source with any line it does not vouch for goes back to the Python
reader (``fastmerge._items``), which reads it again from its start and skips the lists
of records the C part already passed on; other sources (stdin, SSH, in-memory) are the
Python reader's from the start. Either way the output is the Python path's, byte for
byte; tests compare the two on generated, edge-case and testcloud logs.
"""

from __future__ import annotations

import codecs
import io
import os
import stat
from collections.abc import Callable, Iterator
from functools import partial
from itertools import islice
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from stacktender.logs.merge import REORDER_WINDOW
from stacktender.logs.output import text_style
from stacktender.logs.parse import _Clock
from stacktender.logs.sources import LogSource, _changed, _read1

if TYPE_CHECKING:
    from stacktender.logs.fastmerge import Item, MergedText

try:
    from stacktender.logs import _cmerge  # type: ignore[attr-defined]
except ImportError:  # installed without a C compiler: the Python path does the work
    _cmerge = None

AVAILABLE = _cmerge is not None
_PIPE_SIZE = 1 << 20


def rereadable(source: LogSource) -> bool:
    """Whether the C part may read a source: a local regular file, which can be read
    again from its start if the Python reader has to take over."""
    if source.path is None:
        return False
    try:
        return stat.S_ISREG(os.stat(source.path).st_mode)
    except OSError:
        return False


def write(merged: MergedText, out: TextIO) -> None:
    """Write ``merged``'s output to ``out`` with the compiled merge."""
    from stacktender.logs.fastmerge import _items

    if _cmerge is None:
        raise RuntimeError("stacktender.logs._cmerge was not built")
    may_read = merged.rereadable or rereadable
    streams: list[Any] = []
    opened: list[BinaryIO | None] = []
    try:
        for source in merged.sources:
            skew = merged.skews.get(source.host, 0.0)
            items = partial(_items, source, merged.tz, skew, merged.colour)
            raw = _open(source, may_read)
            opened.append(raw)
            label = f"{source.host} {source.service or '-'} "
            if raw is None or not _encodable(label):
                streams.append(items())
                continue
            clock = _Clock(merged.tz, skew)
            streams.append(
                (
                    _read1(raw),
                    partial(_hour, clock),
                    partial(_style, label, merged.colour),
                    partial(_after, items),
                    _regular_fd(raw),
                )
            )
        out.flush()
        results = _cmerge.merge(streams, _target(out), REORDER_WINDOW)
        for source, raw, result in zip(merged.sources, opened, results, strict=True):
            if result is None:  # the Python reader counted it
                continue
            merged.compiled_sources += 1
            stats = source.stats
            lines, records, continuation, size = result
            stats.lines += lines
            stats.records += records
            stats.continuation += continuation
            if source.path is not None and raw is not None:
                problem = _changed(source.path, raw, size)
                if problem:
                    stats.errors.append(f"{source.name}: {problem}")
    finally:
        for raw in opened:
            if raw is not None:
                raw.close()


def _open(source: LogSource, may_read: Callable[[LogSource], bool]) -> BinaryIO | None:
    if not may_read(source):
        return None
    try:
        return source.open()
    except OSError:
        return None  # the Python reader tries again and counts the error


def _regular_fd(raw: BinaryIO) -> int:
    """The file descriptor of a regular file opened and not read yet, which the C part
    reads with read(2) as Python's read1 would, one block at a time; else -1."""
    try:
        fd = raw.fileno()
        if raw.tell() == 0 and stat.S_ISREG(os.fstat(fd).st_mode):
            return fd
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        pass
    return -1


def _encodable(label: str) -> bool:
    try:
        label.encode()
    except UnicodeEncodeError:  # a path's undecodable bytes: Python writes them as it can
        return False
    return True


def _target(out: TextIO) -> int | Callable[[bytes], object]:
    """``out``'s file descriptor if bytes may go there directly, else a writer of chunks."""
    try:
        fd = out.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        fd = None
    encoding = getattr(out, "encoding", None)
    if fd is not None and encoding and codecs.lookup(encoding).name == "utf-8":
        _widen_pipe(fd)
        return fd
    return lambda chunk: out.write(chunk.decode())


def _widen_pipe(fd: int) -> None:
    """Raise a pipe's buffer to 1 MiB (Linux: F_SETPIPE_SZ, allowed up to
    /proc/sys/fs/pipe-max-size without privileges): the writer then waits for the
    reader a sixteenth as often as with the default 64 KiB. Best effort."""
    import fcntl

    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
    try:
        if setsize is not None and stat.S_ISFIFO(os.fstat(fd).st_mode):
            fcntl.fcntl(fd, setsize, _PIPE_SIZE)
    except OSError:
        pass  # above the system's limit, or not changeable: the default is fine


def _hour(clock: _Clock, date: str, hour: str) -> float | None:
    return clock.hour(date, hour, None)


def _style(label: str, colour: bool, level: str) -> tuple[bytes, bytes]:
    """What goes before and after (without the newline) each line at ``level``."""
    prefix, suffix = text_style(label, level, colour)
    return prefix.encode(), suffix[:-1].encode()


def _after(items: Callable[[], Iterator[list[Item]]], skip: int) -> Iterator[list[Item]]:
    """The Python reader's lists of a source after the first ``skip``, read again from
    the source's start."""
    return islice(items(), skip, None)
