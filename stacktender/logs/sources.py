"""Where log lines come from: files, directories, compressed files, stdin, SSH.

A source knows its host and service (from its path, a ``HOST:PATH`` argument, a
directory of per-host folders as Ansible's ``fetch`` module writes them, or the
JSON records themselves), opens a binary stream, and yields decoded lines in
constant memory. Compression is recognised by its magic bytes, not by the name.
Every problem (a file that vanished, a truncated archive, invalid UTF-8, a line
longer than the limit) is counted in the source's ParseStats, never raised.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import re
import shlex
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from stacktender.logs.parse import parse_lines
from stacktender.logs.record import LogRecord, ParseStats

MAX_LINE = 1 << 20  # longer lines are cut here and counted as oversized
_COMPRESSED: dict[bytes, Callable[[Any], Any]] = {
    b"\x1f\x8b": lambda raw: gzip.GzipFile(fileobj=raw, mode="rb"),
    b"BZ": bz2.BZ2File,
    b"\xfd7": lzma.LZMAFile,
}
# nova-compute.log, nova-compute.log.1, nova-compute.log.2.gz, glance-api.json.xz
_SUFFIXES = re.compile(r"(\.(gz|bz2|xz))?$")
_ROTATION = re.compile(r"(\.\d+)?$")
_LOG_NAME = re.compile(r"\.(log|json|txt)(\.\d+)?(\.(gz|bz2|xz))?$|\.(gz|bz2|xz)$")
_REMOTE = re.compile(r"^(?:ssh://)?(?:([^@/\s]+)@)?([A-Za-z0-9][\w.\-]*|\[[0-9a-fA-F:]+\]):(/.*)$")


def service_from_name(name: str) -> str:
    """``nova-compute.log.2.gz`` -> ``nova-compute``."""
    stem = _SUFFIXES.sub("", Path(name).name)
    stem = _ROTATION.sub("", stem)
    for ext in (".log", ".json", ".txt"):
        if stem.endswith(ext):
            return stem[: -len(ext)] or stem
    return stem


@dataclass
class LogSource:
    """One stream of log lines and where it came from."""

    name: str
    host: str
    service: str
    open: Callable[[], BinaryIO] = field(repr=False)
    stats: ParseStats = field(default_factory=ParseStats)
    mtime: float | None = None

    def lines(self) -> Iterator[str]:
        """Decoded lines without their newline; problems go to ``stats``."""
        try:
            raw = self.open()
        except OSError as exc:
            self.stats.errors.append(f"{self.name}: {exc.strerror or exc}")
            return
        with raw:
            stream = _decompressed(raw)
            reader = iter(partial(stream.readline, MAX_LINE), b"")
            stats = self.stats
            try:
                for chunk in reader:
                    if chunk[-1:] != b"\n" and len(chunk) >= MAX_LINE:
                        stats.oversized += 1
                        for rest in reader:  # drop the remainder of the long line
                            if rest[-1:] == b"\n":
                                break
                    try:
                        text = chunk.decode()
                    except UnicodeDecodeError:
                        stats.decode_errors += 1
                        text = chunk.decode(errors="replace")
                    yield text.rstrip("\r\n")
            except (EOFError, OSError, lzma.LZMAError, zlib_error()) as exc:
                stats.errors.append(f"{self.name}: unreadable after {stats.lines} lines: {exc}")

    def records(
        self, *, tz: tzinfo | None = None, skew: float = 0.0, year: int | None = None
    ) -> Iterator[LogRecord]:
        """Parsed records of this source, in file order."""
        if year is None and self.mtime is not None:
            year = datetime.fromtimestamp(self.mtime).year
        return parse_lines(
            self.lines(),
            host=self.host,
            service=self.service,
            source=self.name,
            tz=tz,
            skew=skew,
            year=year,
            stats=self.stats,
        )


def zlib_error() -> type[Exception]:
    import zlib

    return zlib.error


def _decompressed(raw: BinaryIO) -> BinaryIO:
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[arg-type,type-var]
    magic = buffered.peek(2)[:2]
    opener = _COMPRESSED.get(magic)
    if opener is None:
        return buffered
    return io.BufferedReader(opener(buffered))  # type: ignore[no-any-return]


def _is_log_file(path: Path) -> bool:
    return bool(_LOG_NAME.search(path.name))


def _file_source(path: Path, host: str, label: str | None = None) -> LogSource:
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = None
    return LogSource(
        name=label or str(path),
        host=host,
        service=service_from_name(path.name),
        open=partial(_open_file, path),
        mtime=mtime,
    )


def _ssh_sources(target: str, ssh_options: Sequence[str], timeout: float) -> list[LogSource]:
    match = _REMOTE.match(target)
    assert match is not None
    user, host, path = match.groups()
    login = f"{user}@{host}" if user else host
    base = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={int(timeout)}", *ssh_options]
    listing = subprocess.run(
        [*base, login, "find", shlex.quote(path), "-type", "f"],
        capture_output=True,
        text=True,
        timeout=timeout * 3,
        check=False,
    )
    if listing.returncode != 0:
        reason = (listing.stderr.strip().splitlines() or [f"exit {listing.returncode}"])[-1]
        return [_broken(target, host, f"ssh {login}: {reason}")]
    files = sorted(p for p in listing.stdout.splitlines() if p == path or _is_log_file(Path(p)))

    def opener(remote: str) -> BinaryIO:
        process = subprocess.Popen(
            [*base, login, "cat", "--", shlex.quote(remote)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert process.stdout is not None
        return process.stdout  # type: ignore[return-value]

    return [
        LogSource(
            name=f"{host}:{remote}",
            host=host.strip("[]"),
            service=service_from_name(remote),
            open=partial(opener, remote),
        )
        for remote in files
    ]


def _broken(name: str, host: str, reason: str) -> LogSource:
    def fail() -> BinaryIO:
        raise OSError(reason)

    return LogSource(name=name, host=host, service="", open=fail)


def discover(
    paths: Sequence[str],
    *,
    host: str | None = None,
    by_host: bool = False,
    ssh_options: Sequence[str] = (),
    timeout: float = 10.0,
) -> list[LogSource]:
    """Turn command-line arguments into sources.

    ``-`` is stdin; a directory is searched for log files (``*.log``, rotated and
    compressed ones, ``*.json``); ``[user@]HOST:/path`` is read over SSH. With
    ``by_host``, each first-level folder of a directory names a host (the layout of
    ``ansible -m fetch``: ``DIR/HOST/var/log/...``). A path that does not exist is
    a source that reports the error, so the others still run.
    """
    local = host or socket.gethostname()
    sources: list[LogSource] = []
    for argument in paths:
        if argument == "-":
            sources.append(LogSource(name="<stdin>", host=local, service="stdin", open=_stdin))
            continue
        path = Path(argument)
        if not path.exists() and _REMOTE.match(argument):
            sources.extend(_ssh_sources(argument, ssh_options, timeout))
            continue
        if path.is_dir():
            if by_host:
                for folder in sorted(p for p in path.iterdir() if p.is_dir()):
                    sources.extend(_walk(folder, folder.name))
            else:
                sources.extend(_walk(path, local))
        elif path.exists():
            sources.append(_file_source(path, local))
        else:
            sources.append(_broken(argument, local, f"no such file or directory: {argument}"))
    return sources


def _walk(root: Path, host: str) -> list[LogSource]:
    found: list[LogSource] = []
    for folder, _dirs, names in os.walk(root):
        for name in sorted(names):
            path = Path(folder, name)
            if _is_log_file(path):
                found.append(_file_source(path, host))
    return sorted(found, key=lambda s: s.name)


def _open_file(path: Path) -> BinaryIO:
    return open(path, "rb")


def _stdin() -> BinaryIO:
    return os.fdopen(os.dup(sys.stdin.fileno()), "rb")
