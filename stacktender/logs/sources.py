"""Where log lines come from: files, directories, compressed files, stdin, SSH.

A source knows its host and service (from its path, a ``HOST:PATH`` argument, a
directory of per-host folders as Ansible's ``fetch`` module writes them, or the
JSON records themselves), opens a binary stream, and yields decoded lines in
constant memory, a block at a time. Compression is recognised by its magic bytes,
not by the name. Every problem (a file that vanished, a truncated archive, invalid
UTF-8, a line longer than the limit, a file rotated or truncated while being read,
an SSH command that failed) is counted in the source's ParseStats, never raised.
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
import tempfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from functools import partial
from itertools import chain
from pathlib import Path
from typing import BinaryIO, cast

from stacktender.logs.parse import parse_batches
from stacktender.logs.record import LogRecord, ParseStats

MAX_LINE = 1 << 20  # longer lines are cut here and counted as oversized
BLOCK = 1 << 16  # bytes read at a time: a few hundred lines, parsed as one batch
_MAGIC: list[tuple[bytes, Callable[[BinaryIO], io.BufferedIOBase]]] = [
    (b"\x1f\x8b", lambda f: gzip.GzipFile(fileobj=f)),
    (b"BZh", lambda f: bz2.BZ2File(f)),
    (b"\xfd7zXZ\x00", lambda f: lzma.LZMAFile(f)),  # noqa: SIM115 (streams we return)
]
_UNREADABLE = (OSError, EOFError, zlib.error, lzma.LZMAError)
# nova-compute.log, nova-compute.log.1, nova-compute.log.2.gz, glance-api.json.xz
_SUFFIXES = re.compile(r"(\.(gz|bz2|xz))?$")
_ROTATION = re.compile(r"(\.\d+|-\d{8})?$")
_LOG_NAME = re.compile(
    r"\.(log|json|txt)(\.\d+)?(\.(gz|bz2|xz))?$|\.(gz|bz2|xz)$"
    r"|^(syslog|messages)((\.\d+)?(\.(gz|bz2|xz))?|-\d{8}(\.(gz|bz2|xz))?)$"
)
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
    """One stream of log lines and where it came from.

    ``path`` is set for local files: reading checks at the end whether the file was
    rotated, deleted or truncated meanwhile, and says so in ``stats.errors``.
    """

    name: str
    host: str
    service: str
    open: Callable[[], BinaryIO] = field(repr=False)
    stats: ParseStats = field(default_factory=ParseStats)
    mtime: float | None = None
    path: Path | None = None

    def lines(self) -> Iterator[str]:
        """Decoded lines without their newline; problems go to ``stats``."""
        return chain.from_iterable(self.batches())

    def batches(self) -> Iterator[list[str]]:
        """The lines in lists, a block of input at a time; problems go to ``stats``."""
        try:
            raw = self.open()
        except OSError as exc:
            self.stats.errors.append(f"{self.name}: {exc.strerror or exc}")
            return
        with raw:
            reader = _Lines(self.stats)
            blocks = _Blocks(raw)
            failure = None
            try:
                for block in blocks:
                    batch = reader.feed(block)
                    if batch:
                        yield batch
            except _UNREADABLE as exc:
                failure = exc
            last = reader.close()  # a last line without its newline, or cut by the failure
            if last:
                yield last
            if failure is not None:
                self.stats.errors.append(
                    f"{self.name}: unreadable after {reader.count} lines: {_reason(failure)}"
                )
            if self.path is not None and not blocks.compressed:
                problem = _changed(self.path, raw, blocks.size)
                if problem:
                    self.stats.errors.append(f"{self.name}: {problem}")

    def records(
        self, *, tz: tzinfo | None = None, skew: float = 0.0, year: int | None = None
    ) -> Iterator[LogRecord]:
        """Parsed records of this source, in file order."""
        return chain.from_iterable(self.record_batches(tz=tz, skew=skew, year=year))

    def record_batches(
        self, *, tz: tzinfo | None = None, skew: float = 0.0, year: int | None = None
    ) -> Iterator[list[LogRecord]]:
        """Parsed records of this source in lists, in file order."""
        if year is None and self.mtime is not None:
            year = datetime.fromtimestamp(self.mtime).year
        return parse_batches(
            self.batches(),
            host=self.host,
            service=self.service,
            source=self.name,
            tz=tz,
            skew=skew,
            year=year,
            stats=self.stats,
        )


class _Blocks:
    """Decompressed blocks of a binary stream, whatever its compression."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.compressed = False
        self.size = 0  # bytes read from ``raw``

    def __iter__(self) -> Iterator[bytes]:
        read = _read1(self.raw)
        head = read(BLOCK)
        while 0 < len(head) < 6:  # a pipe can deliver the magic bytes in pieces
            more = read(BLOCK)
            if not more:
                break
            head += more
        self.size = len(head)
        opener = next((o for magic, o in _MAGIC if head.startswith(magic)), None)
        if opener is None:
            if head:
                yield head
            while block := read(BLOCK):
                self.size += len(block)
                yield block
            return
        self.compressed = True
        # read1: a truncated archive yields everything before the damage, then fails
        stream = opener(cast(BinaryIO, _Prepended(head, self.raw)))
        while block := stream.read1(BLOCK):
            yield block


class _Lines:
    """Splits blocks into decoded lines, cutting the ones longer than MAX_LINE."""

    def __init__(self, stats: ParseStats) -> None:
        self.stats = stats
        self.count = 0
        self._carry = b""  # the start of a line whose end is in a later block
        self._skipping = False  # inside a cut line: drop bytes up to its end

    def feed(self, block: bytes) -> list[str]:
        lines: list[str] = []
        if self._skipping:
            end = block.find(b"\n")
            if end < 0:
                return lines
            block, self._skipping = block[end + 1 :], False
        if self._carry:
            end = block.find(b"\n")
            if end < 0:
                self._carry += block
                if len(self._carry) > MAX_LINE:
                    lines.append(self._cut(self._carry))
                    self._carry, self._skipping = b"", True
                    self.count += 1
                return lines
            first, block, self._carry = self._carry + block[:end], block[end + 1 :], b""
            lines.append(self._cut(first) if len(first) > MAX_LINE else self._line(first))
        end = block.rfind(b"\n")
        if end < 0:
            self._carry = block
        else:
            self._carry = block[end + 1 :]
            lines.extend(self._decode(block[:end]))
        self.count += len(lines)
        return lines

    def close(self) -> list[str]:
        """The last line, if the input did not end with a newline."""
        carry, self._carry = self._carry, b""
        if not carry:
            return []
        self.count += 1
        return [self._cut(carry) if len(carry) > MAX_LINE else self._line(carry)]

    def _decode(self, body: bytes) -> list[str]:
        try:
            text = body.decode()
        except UnicodeDecodeError:
            return [self._line(line) for line in body.split(b"\n")]
        lines = text.split("\n")
        if "\r" in text:
            return [line.rstrip("\r") for line in lines]
        return lines

    def _line(self, data: bytes) -> str:
        try:
            text = data.decode()
        except UnicodeDecodeError:
            self.stats.decode_errors += 1
            text = data.decode(errors="replace")
        return text.rstrip("\r")

    def _cut(self, data: bytes) -> str:
        self.stats.oversized += 1
        end = MAX_LINE
        while end > MAX_LINE - 4 and data[end] & 0xC0 == 0x80:
            end -= 1  # do not split a UTF-8 character
        return self._line(data[:end])


class _Prepended(io.RawIOBase):
    """``head`` then the rest of ``raw``: the magic bytes, once peeked, read again."""

    def __init__(self, head: bytes, raw: BinaryIO) -> None:
        self._head = head
        self._read = _read1(raw)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._head or self._read(len(buffer))
        size = min(len(data), len(buffer))
        buffer[:size] = data[:size]
        self._head = data[size:]
        return size


def _read1(raw: BinaryIO) -> Callable[[int], bytes]:
    read1 = getattr(raw, "read1", None)
    return read1 if read1 is not None else raw.read


def _reason(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "truncated (the compressed stream ends early)"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _changed(path: Path, raw: BinaryIO, consumed: int) -> str | None:
    """What happened to a file while it was read, if anything."""
    try:
        opened = os.fstat(raw.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        return None
    try:
        now = os.stat(path)
    except OSError:
        return "deleted while being read (read to its end)"
    if (now.st_ino, now.st_dev) != (opened.st_ino, opened.st_dev):
        return (
            "rotated while being read (read the old file to its end; lines written to "
            "the new file since are not included)"
        )
    if opened.st_size < consumed:
        return (
            f"truncated while being read (at {opened.st_size} of {consumed} bytes read; "
            "lines written after the truncation are not included)"
        )
    return None


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
        path=path,
    )


class _Remote(io.RawIOBase):
    """The output of a command run over SSH; its failure is a read error at the end."""

    def __init__(self, command: list[str], what: str) -> None:
        self._what = what
        # stderr to a file, not a pipe, which could fill up while we read stdout
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self._errors)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        assert self._process.stdout is not None
        size = self._process.stdout.readinto1(buffer)  # type: ignore[attr-defined]
        if not size and self._process.wait() != 0:
            self._errors.seek(0)
            lines = self._errors.read().decode(errors="replace").strip().splitlines()
            reason = lines[-1] if lines else f"exit status {self._process.returncode}"
            raise OSError(f"{self._what}: {reason}")
        return int(size or 0)

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._errors.close()
        super().close()


def _ssh_sources(target: str, ssh_options: Sequence[str], timeout: float) -> list[LogSource]:
    match = _REMOTE.match(target)
    assert match is not None
    user, host, path = match.groups()
    login = f"{user}@{host}" if user else host
    # ssh takes the first value it is given for an option: the caller's come first
    base = ["ssh", *ssh_options, "-o", "BatchMode=yes", "-o", f"ConnectTimeout={int(timeout)}"]
    base += ["-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4"]
    try:
        listing = subprocess.run(
            [*base, login, "find", shlex.quote(path), "-type", "f"],
            capture_output=True,
            text=True,
            timeout=timeout * 3,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [_broken(target, host, f"ssh {login}: {exc}")]
    if listing.returncode != 0:
        reason = (listing.stderr.strip().splitlines() or [f"exit {listing.returncode}"])[-1]
        return [_broken(target, host, f"ssh {login}: {reason}")]
    files = sorted(p for p in listing.stdout.splitlines() if p == path or _is_log_file(Path(p)))

    def opener(remote: str) -> BinaryIO:
        command = [*base, login, "cat", "--", shlex.quote(remote)]
        return io.BufferedReader(_Remote(command, f"ssh {login} cat {remote}"), BLOCK)  # type: ignore[return-value]

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
    compressed ones, ``*.json``, ``syslog``, ``messages``); ``[user@]HOST:/path`` is
    read over SSH. With ``by_host``, each first-level folder of a directory names a
    host (the layout of ``ansible -m fetch``: ``DIR/HOST/var/log/...``); log files
    directly in it belong to ``host``. A path that does not exist is a source that
    reports the error, so the others still run.
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
                for entry in sorted(path.iterdir()):
                    if entry.is_dir():
                        sources.extend(_walk(entry, entry.name))
                    elif _is_log_file(entry):
                        sources.append(_file_source(entry, local))
            else:
                sources.extend(_walk(path, local))
        elif path.exists():
            sources.append(_file_source(path, local))
        else:
            sources.append(_broken(argument, local, f"no such file or directory: {argument}"))
    return sources


def _is_log_file(path: Path) -> bool:
    return bool(_LOG_NAME.search(path.name))


def _walk(root: Path, host: str) -> list[LogSource]:
    found: list[LogSource] = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            if _is_log_file(path):
                found.append(_file_source(path, host))
    return sorted(found, key=lambda s: s.name)


def _open_file(path: Path) -> BinaryIO:
    return open(path, "rb")


def _stdin() -> BinaryIO:
    return os.fdopen(os.dup(sys.stdin.fileno()), "rb")
