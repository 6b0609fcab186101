"""``ship()``: read log files from their checkpoints, parse, deliver, advance.

The loop, per file: find the file's checkpoint (by inode and head digest, or by the
same content under another name), read complete lines from its offset, parse them
into records (:class:`stacktender.logs.parse.LineParser`), batch records across
files, hand each batch to the destination, and only when ``send`` returned move the
checkpoints to the end of the last record of the batch and save them atomically.
A crash at any point therefore repeats at most the batch in flight, and its records
carry the same ids as before.

Rotation: a file whose name now points to another inode is finished first (found
among its siblings by inode, or as a compressed rotation by its head), then the new
file starts at 0. Truncation (shorter than the checkpoint, or different bytes before
it) starts the file over. Compressed files are read whole once and then marked done.
With ``follow=True`` the files stay open and are polled until ``stop`` is set;
a rotated file is drained through its open descriptor before it is let go.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, TextIO

from stacktender.logs.parse import LineParser
from stacktender.logs.record import LogRecord
from stacktender.logs.ship.base import (
    DeliveryError,
    Destination,
    RejectedRecords,
    ShipError,
    ShipRecord,
)
from stacktender.logs.ship.checkpoint import (
    PREFIX_BYTES,
    Checkpoint,
    CheckpointStore,
    digest,
    new_generation,
)
from stacktender.logs.ship.identity import (
    continues,
    find_rotated,
    is_live_name,
    new_checkpoint,
    stat_key,
)
from stacktender.logs.ship.logfile import UNREADABLE, LogFile
from stacktender.logs.ship.report import FileReport, ShipReport
from stacktender.logs.sources import discover

__all__ = ["ship"]

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 1000
DEFAULT_BATCH_BYTES = 1 << 20
FORGET_AFTER = 30 * 86400.0
MAX_PAUSE = 60.0
READ_CHUNK = 512  # lines parsed at a time


@dataclass(slots=True)
class _Item:
    """A record (or, with ``item`` None, a filtered record or an end marker) of a batch."""

    file: _Open
    item: ShipRecord | None
    end: int
    end_lineno: int
    tail: bytes
    done: bool = False


class _Open:
    """A file being read: its LogFile, checkpoint, parser, and the lines still pending."""

    def __init__(
        self, log: LogFile, cp: Checkpoint, host: str, service: str, parser: LineParser,
        report: FileReport,
    ) -> None:  # fmt: skip
        self.log = log
        self.cp = cp
        self.host = host
        self.service = service
        self.parser = parser
        self.report = report
        self.lineno = cp.lineno
        # (start, end, last bytes) of each line fed but not yet in a finished record,
        # the first being line number mark_base
        self.marks: list[tuple[int, int, bytes]] = []
        self.mark_base = cp.lineno + 1
        # records without a time, waiting for the next one that has it
        self.untimed: list[tuple[LogRecord, int, int, int, bytes]] = []
        self.last_line = b""
        self.last_data = time.monotonic()
        self.rotated_at: float | None = None  # follow mode: when its name moved on
        self.read_to = log.pos  # end of the last complete line read
        self.size = -1  # follow mode: size at the last look


def ship(
    paths: Sequence[str],
    destination: Destination,
    *,
    state_dir: str | Path,
    host: str | None = None,
    by_host: bool = False,
    follow: bool = False,
    stop: threading.Event | None = None,
    keep: Callable[[LogRecord], bool] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    poll_interval: float = 1.0,
    flush_interval: float = 2.0,
    rescan_interval: float = 10.0,
    rotate_wait: float = 5.0,
    retry_pause: float = 1.0,
    tz: tzinfo | None = None,
    skew: float = 0.0,
    forget_after: float = FORGET_AFTER,
) -> ShipReport:
    """Ship the log files under ``paths`` to ``destination``, resuming from checkpoints.

    ``paths`` are files or directories as for every logs command (rotated and
    compressed files included); ``host``/``by_host`` name the hosts as
    :func:`stacktender.logs.sources.discover` does. Checkpoints live in
    ``state_dir/<destination.name>.checkpoints.json``; records the destination refuses
    for good go to ``state_dir/<destination.name>.rejected.jsonl``. Without ``follow``
    the call ships what the files hold now (a last line without its newline waits for
    the next run) and returns. With ``follow`` it keeps polling until ``stop`` is set,
    pausing (``retry_pause`` seconds, doubling up to a minute) and retrying while the
    destination is unavailable; a rotated file is read through its open descriptor
    until it has been quiet for ``rotate_wait`` seconds.

    Raises :class:`DeliveryError` (with ``.report``) when a batch cannot be delivered;
    everything before that batch stays delivered and checkpointed.
    """
    if batch_size < 1 or batch_bytes < 1:
        raise ShipError("batch size and batch bytes must be positive")
    state = Path(state_dir)
    name = destination.name
    if not name or "/" in name or name.startswith("."):
        raise ShipError(f"destination name {name!r} cannot name a checkpoint file")
    try:
        state.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ShipError(f"cannot create state directory {state}: {exc.strerror or exc}") from None
    with _locked(state / f"{name}.lock"):
        store = CheckpointStore(state / f"{name}.checkpoints.json")
        report = ShipReport(
            destination=name,
            checkpoints=str(store.path),
            rejected_file=str(state / f"{name}.rejected.jsonl"),
        )
        shipper = _Shipper(
            destination, store, report, keep=keep, batch_size=batch_size,
            batch_bytes=batch_bytes, tz=tz, skew=skew, retry_pause=retry_pause,
            state_dir=state,
        )  # fmt: skip
        try:
            if follow:
                shipper.follow(
                    lambda: discover(paths, host=host, by_host=by_host),
                    stop or threading.Event(),
                    poll_interval=poll_interval,
                    flush_interval=flush_interval,
                    rescan_interval=rescan_interval,
                    rotate_wait=rotate_wait,
                )
            else:
                shipper.once(discover(paths, host=host, by_host=by_host))
        except DeliveryError as exc:
            report.error = str(exc)
            exc.report = report
            raise
        finally:
            shipper.close()
            store.forget(time.time() - forget_after)
            store.save()
        return report


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One shipper per destination and state directory at a time."""
    try:
        handle = open(path, "a")  # noqa: SIM115 - held for the whole run
    except OSError as exc:
        raise ShipError(f"cannot open lock file {path}: {exc.strerror or exc}") from None
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ShipError(
                f"another shipper holds {path}: one ship per destination and state directory"
            ) from None
        yield


class _Shipper:
    def __init__(
        self,
        destination: Destination,
        store: CheckpointStore,
        report: ShipReport,
        *,
        keep: Callable[[LogRecord], bool] | None,
        batch_size: int,
        batch_bytes: int,
        tz: tzinfo | None,
        skew: float,
        retry_pause: float = 1.0,
        state_dir: Path | None = None,
    ) -> None:
        self.destination = destination
        # the checkpoint and rejected files are JSON: never ship them as logs
        self.state_dir = os.path.realpath(state_dir) + os.sep if state_dir else None
        self.retry_pause = retry_pause
        self.store = store
        self.report = report
        self.keep = keep
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.tz = tz
        self.skew = skew
        self.batch: list[_Item] = []
        self.batch_records = 0
        self.batch_size_bytes = 0
        self.batch_started = 0.0
        self.open: dict[str, _Open] = {}  # by path, follow mode
        self.draining: list[_Open] = []  # rotated away, follow mode
        self.visited: set[tuple[int, int]] = set()  # identities read in this pass
        self.settled: dict[str, tuple[int, int, int, float]] = {}  # path -> stat of done files
        self.batch_heads: set[str] = set()  # heads of the files with records in the batch
        self.rejected_out: TextIO | None = None
        self.stop: threading.Event | None = None  # follow mode: wait out outages

    # -- one pass over the files ----------------------------------------------------------

    def once(self, sources: Sequence[Any]) -> None:
        files = self._files(sources)
        self._register(files)
        for source_path, host, service in files:
            self.visit(source_path, host, service, follow=False)
        self.deliver()

    def _register(self, files: Sequence[tuple[str, str, str]]) -> None:
        """Give every new live file its checkpoint before anything is sent.

        If delivery fails early in a run, the files it did not reach are still known
        to the next run, which then finds them beside their live name if they were
        rotated in between.
        """
        added = False
        for path, host, service in files:
            if not is_live_name(path):
                continue
            try:
                log = LogFile(path)
            except OSError:
                continue
            try:
                if log.compressed:
                    continue
                head = log.head()
                if head is None or self.store.get(log.dev, log.ino, head) is not None:
                    continue
                prefix = log.prefix(PREFIX_BYTES)
                if any(
                    continues(log, prefix, other)
                    for other in self.store.same_content(head, host, service)
                ):
                    continue  # the visit continues it from the original's checkpoint
                self.store.put(new_checkpoint(log, head, prefix, path, host, service))
                added = True
            except UNREADABLE:
                continue
            finally:
                log.close()
        if added:
            self.store.save()

    def _files(self, sources: Sequence[Any]) -> list[tuple[str, str, str]]:
        """Local files of the discovered sources, oldest first (Loki wants time order)."""
        found: list[tuple[float, str, str, str]] = []
        for source in sources:
            path = source.name
            if self.state_dir and os.path.realpath(path).startswith(self.state_dir):
                continue
            try:
                st = os.stat(path)
            except OSError:
                report = self.report.file(path)
                report.host, report.service = source.host, source.service
                if report.status:
                    continue  # reported at an earlier scan
                if path == "<stdin>":
                    report.status = "skipped"
                    report.events.append("stdin has no offsets to checkpoint: not shipped")
                elif os.path.exists(path) or ":" not in path:
                    report.status = "missing"
                    report.events.append("no such file or directory")
                else:
                    report.status = "skipped"
                    report.events.append("remote files are shipped by a shipper on their host")
                continue
            found.append((st.st_mtime, path, source.host, source.service))
        found.sort()
        return [(path, host, service) for _, path, host, service in found]

    def visit(self, path: str, host: str, service: str, *, follow: bool) -> None:
        """Read what is new in the file now named ``path``."""
        current = self.open.get(path)
        if current is not None:
            current = self._check_open(path, current)
        if current is None:
            current = self._start(path, host, service)
            if current is None:
                return
            if follow and not current.log.compressed:
                self.open[path] = current
        ok = self._read(current, final=current.log.compressed)
        if not follow or current.log.compressed:
            self._finish(current, done=current.log.compressed and ok)

    def _check_open(self, path: str, current: _Open) -> _Open | None:
        """Follow mode: notice rotation and truncation of an open file."""
        try:
            st = os.stat(path)
        except OSError:
            st = None
        if st is None or (st.st_dev, st.st_ino) != current.log.identity:
            current.report.events.append(
                f"rotated: {path} is now another file; finishing inode {current.log.ino}"
            )
            current.rotated_at = time.monotonic()
            self.draining.append(current)
            del self.open[path]
            return None
        shrunk = st.st_size < current.read_to
        if shrunk or (st.st_size != current.size and self._rewritten(current)):
            # smaller than what was read, or rewritten and already longer again
            current.report.events.append(
                f"truncated at {st.st_size} bytes (read to {current.read_to}): starting over"
            )
            self._close_pending(current)
            self.deliver()
            current.log.close()
            del self.open[path]
            return None
        current.size = st.st_size
        return current

    @staticmethod
    def _rewritten(f: _Open) -> bool:
        """Whether the bytes before the read position are no longer the ones read."""
        last = f.last_line
        if not last:
            return f.log.head() != f.cp.head
        try:
            return os.pread(f.log.raw.fileno(), len(last), f.read_to - len(last)) != last
        except OSError:
            return True

    def _start(self, path: str, host: str, service: str) -> _Open | None:
        """Open a file and position it from its checkpoint (or another name's)."""
        settled = self.settled.get(path)
        try:
            st = os.stat(path)
        except OSError:
            return None
        if settled is not None and settled == stat_key(st):
            return None
        report = self.report.file(path)
        report.host, report.service = host, service
        try:
            log = LogFile(path)
        except OSError as exc:
            report.stats.errors.append(f"{path}: {exc.strerror or exc}")
            self.settled[path] = stat_key(st)
            return None
        if self._busy(log.identity):
            log.close()
            return None
        if not log.compressed:
            # the name may point to a new file while the old one holds unshipped lines
            self._finish_rotated(path, host, service, log.identity)
        try:
            head = log.head()
        except UNREADABLE as exc:
            report.stats.errors.append(f"{path}: unreadable: {exc}")
            self.settled[path] = stat_key(st)
            log.close()
            return None
        if head is None:
            log.close()
            if report.start is None:
                report.status = "waiting"
                report.events.append("first line not complete yet")
            return None
        report.status = "" if report.status == "waiting" else report.status
        for reading in [*self.open.values(), *self.draining]:
            if reading.cp.head == head:
                # a copy of a file being read (copytruncate): what was read of the
                # original is complete and must be delivered before the copy continues it
                self._close_pending(reading)
        if head in self.batch_heads:
            # records of this content wait in the batch: deliver them so the
            # checkpoints below are current and nothing is read twice
            self.deliver()
        cp = self.store.get(log.dev, log.ino, head)
        if cp is not None and not cp.gen:
            cp.gen = new_generation()  # an entry of an older format
            self.store.save()
        if cp is not None and cp.done:
            log.close()
            cp.seen = time.time()
            report.status = report.status or "already shipped"
            report.offset = cp.offset
            self.settled[path] = stat_key(st)
            return None
        try:
            if cp is not None:
                if not log.resume(cp.offset, cp.tail, cp.tail_len):
                    report.events.append(
                        f"changed below the checkpoint at {cp.offset} (truncated or rewritten):"
                        " starting over"
                    )
                    cp.offset = cp.lineno = cp.tail_len = 0
                    cp.tail = ""
                    # new content at old offsets: old ids would overwrite shipped lines
                    cp.gen = new_generation()
                    self.store.save()
            else:
                prefix = log.prefix(PREFIX_BYTES)
                cp = new_checkpoint(log, head, prefix, path, host, service)
                for other in self.store.same_content(head, host, service):
                    if continues(log, prefix, other):
                        cp.gen = other.gen or cp.gen  # its lines keep their ids
                        cp.offset, cp.lineno = other.offset, other.lineno
                        cp.tail, cp.tail_len = other.tail, other.tail_len
                        # the copy now carries what is left: a run over the live name
                        # looks for it, not for the original
                        cp.origin, other.origin = other.origin or cp.origin, ""
                        report.events.append(
                            f"same content as {other.path or 'a shipped file'} "
                            f"(inode {other.ino}): continuing at offset {other.offset}"
                        )
                        break
                self.store.put(cp)
                # saved before any of it is sent: a replay after a crash must find
                # the same generation to give its records the same ids
                self.store.save()
        except UNREADABLE as exc:
            report.stats.errors.append(f"{path}: unreadable: {exc}")
            log.close()
            return None
        cp.path = os.path.abspath(path)
        cp.seen = time.time()
        self.visited.add(log.identity)
        if report.start is None:
            report.start = log.pos
        report.offset = cp.offset
        year = datetime.fromtimestamp(st.st_mtime).year
        parser = LineParser(
            host=host, service=service, source=path, tz=self.tz, skew=self.skew, year=year,
            stats=report.stats,
        )  # fmt: skip
        return _Open(log, cp, host, service, parser, report)

    def _finish_rotated(self, path: str, host: str, service: str, now: tuple[int, int]) -> None:
        """Before the file now named ``path`` is read, ship the rest of the files that
        were live under that name before (found beside it by inode, or compressed)."""
        found: list[tuple[float, str]] = []
        for old in self.store.rotated_from(os.path.abspath(path)):
            if (old.dev, old.ino) == now or self._busy((old.dev, old.ino)):
                continue
            sibling = find_rotated(path, old)
            if sibling is None:
                self.report.file(path).events.append(
                    f"rotated: the previous file (inode {old.ino}, delivered to offset "
                    f"{old.offset}) is gone from beside it"
                )
                old.origin = ""  # reported once
                continue
            try:
                found.append((os.stat(sibling).st_mtime, sibling))
            except OSError:
                continue
        for _, sibling in sorted(found):  # oldest first, as Loki wants
            self.report.file(path).events.append(f"rotated: finishing {sibling} first")
            self.visit(sibling, host, service, follow=False)

    def _busy(self, identity: tuple[int, int]) -> bool:
        """Whether the file is read already in this pass or held open."""
        if identity in self.visited:
            return True
        return any(f.log.identity == identity for f in [*self.open.values(), *self.draining])

    # -- reading, batching, delivering ------------------------------------------------------

    def _read(self, f: _Open, *, final: bool) -> bool:
        """Feed the file's new complete lines to its parser; False if it is damaged."""
        stats = f.report.stats
        texts: list[str] = []
        marks = f.marks
        ok = True
        try:
            for raw, start, end, tail in f.log.lines(final=final):
                if end - start > len(raw):
                    stats.oversized += 1
                try:
                    text = raw.decode()
                except UnicodeDecodeError:
                    stats.decode_errors += 1
                    text = raw.decode(errors="replace")
                texts.append(text.rstrip("\r\n"))
                marks.append((start, end, tail))
                if len(texts) >= READ_CHUNK:
                    self._feed(f, texts)
                    texts = []
        except UNREADABLE as exc:
            stats.errors.append(f"{f.log.path}: unreadable after offset {f.log.pos}: {exc}")
            ok = False
        if texts:
            self._feed(f, texts)
        return ok

    def _feed(self, f: _Open, texts: list[str]) -> None:
        """Parse lines whose marks (offsets, tails) are at the end of ``f.marks``."""
        first = f.lineno + 1
        f.lineno += len(texts)
        _, f.read_to, f.last_line = f.marks[-1]
        f.last_data = time.monotonic()
        self._place(f, f.parser.feed_many(texts, first))

    def _place(self, f: _Open, records: list[LogRecord]) -> None:
        """Give finished records their byte ranges: each record holds the lines from
        its ``lineno`` on, one per line fed, so the records tile the lines."""
        marks = f.marks
        base = f.mark_base
        used = 0
        for record in records:
            if record.lineno != base + used:
                raise ShipError(
                    f"{f.log.path}: the parser returned line {record.lineno} where line "
                    f"{base + used} was expected; refusing to checkpoint past lost lines"
                )
            start = marks[used][0]
            used += len(record.lines)
            _, end, tail = marks[used - 1]
            self._enqueue(f, record, start, end, base + used - 1, tail)
        del marks[:used]
        f.mark_base = base + used

    def _close_pending(self, f: _Open) -> None:
        """The file is quiet or ends: its pending record is complete."""
        last = f.parser.close()
        if last is not None:
            self._place(f, [last])
        if f.marks:
            raise ShipError(
                f"{f.log.path}: {len(f.marks)} line(s) from line {f.mark_base} are in no "
                "record; refusing to checkpoint past lost lines"
            )
        if f.untimed:
            try:
                mtime = os.fstat(f.log.raw.fileno()).st_mtime
            except OSError:
                mtime = time.time()
            self._release_untimed(f, mtime)

    def _finish(self, f: _Open, *, done: bool) -> None:
        self._close_pending(f)
        if done:
            self._append(_Item(f, None, f.read_to, f.lineno, f.last_line, done=True), 0)
        f.log.close()

    def _enqueue(
        self, f: _Open, record: LogRecord, start: int, end: int, end_lineno: int, tail: bytes
    ) -> None:
        if record.ts <= 0:
            # Unparsed lines before the file's first time stamp have no time (0, 1970):
            # they would land in a 1970 index and be refused by Loki as too old. They
            # take the time of the first record after them, or the file's mtime.
            f.untimed.append((record, start, end, end_lineno, tail))
            return
        if f.untimed:
            self._release_untimed(f, record.ts)
        self._add(f, record, start, end, end_lineno, tail)

    def _release_untimed(self, f: _Open, ts: float) -> None:
        for record, start, end, end_lineno, tail in f.untimed:
            record.ts = ts
            self._add(f, record, start, end, end_lineno, tail)
        f.untimed.clear()

    def _add(
        self, f: _Open, record: LogRecord, start: int, end: int, end_lineno: int, tail: bytes
    ) -> None:
        if self.keep is not None and not self.keep(record):
            f.report.skipped += 1
            self._append(_Item(f, None, end, end_lineno, tail), 0)
            return
        item = ShipRecord(record, digest(f"{f.cp.gen}\0{start}".encode()), start)
        self._append(_Item(f, item, end, end_lineno, tail), end - start)

    def _append(self, entry: _Item, size: int) -> None:
        if not self.batch:
            self.batch_started = time.monotonic()
        self.batch.append(entry)
        self.batch_heads.add(entry.file.cp.head)
        if entry.item is not None:
            self.batch_records += 1
            self.batch_size_bytes += size
            if self.batch_records >= self.batch_size or self.batch_size_bytes >= self.batch_bytes:
                self.deliver()

    def deliver(self) -> None:
        """Flush; in follow mode wait out an unavailable destination instead of failing."""
        if self.stop is None:
            self.flush()
            return
        attempt = 0
        while True:
            try:
                self.flush()
            except DeliveryError as exc:
                if not exc.retryable or self.stop.is_set():
                    raise
                attempt += 1
                wait = min(MAX_PAUSE, self.retry_pause * 2.0 ** (attempt - 1))
                self.report.error = f"{exc} (retrying in {wait:g}s)"
                logger.warning("%s", self.report.error)
                self.stop.wait(wait)
            else:
                self.report.error = None
                return

    def flush(self) -> None:
        """Deliver the batch, then advance and save the checkpoints it covers."""
        if not self.batch:
            return
        batch = self.batch
        records = [entry.item for entry in batch if entry.item is not None]
        failed: dict[int, str] = {}
        if records:
            try:
                self.destination.send(records)
            except RejectedRecords as exc:
                failed = {index: reason for index, reason in exc.rejected}
                self._write_rejected(records, failed)
            self.report.batches += 1
        index = 0
        furthest: dict[int, _Item] = {}
        for entry in batch:
            f = entry.file
            if entry.item is not None:
                if index in failed:
                    f.report.failed += 1
                else:
                    f.report.sent += 1
                index += 1
            furthest[id(f)] = entry
        for entry in furthest.values():
            cp = entry.file.cp
            if entry.end >= cp.offset:
                cp.offset, cp.lineno = entry.end, entry.end_lineno
                cp.tail, cp.tail_len = digest(entry.tail), len(entry.tail)
            cp.done = cp.done or entry.done
            entry.file.report.offset = cp.offset
        self.batch = []
        self.batch_heads.clear()
        self.batch_records = self.batch_size_bytes = 0
        self.store.save()

    def _write_rejected(self, records: list[ShipRecord], failed: dict[int, str]) -> None:
        if self.rejected_out is None:
            try:
                self.rejected_out = open(self.report.rejected_file, "a", encoding="utf-8")  # noqa: SIM115
            except OSError as exc:
                # Not being able to keep the refused records is losing them: stop here.
                raise DeliveryError(
                    f"cannot write rejected records to {self.report.rejected_file}: "
                    f"{exc.strerror or exc}",
                    retryable=False,
                ) from None
        now = datetime.now().astimezone().isoformat(timespec="seconds")
        for index, reason in sorted(failed.items()):
            item = records[index]
            line = {
                "rejected_at": now,
                "destination": self.report.destination,
                "reason": reason,
                "id": item.id,
                "offset": item.offset,
                "record": item.record.as_dict(),
            }
            self.rejected_out.write(json.dumps(line, ensure_ascii=False) + "\n")
        self.rejected_out.flush()
        os.fsync(self.rejected_out.fileno())

    def close(self) -> None:
        for f in [*self.open.values(), *self.draining]:
            f.log.close()
        self.open.clear()
        self.draining.clear()
        if self.rejected_out is not None:
            self.rejected_out.close()
            self.rejected_out = None

    # -- follow mode ------------------------------------------------------------------------

    def follow(
        self,
        discover_files: Callable[[], Sequence[Any]],
        stop: threading.Event,
        *,
        poll_interval: float,
        flush_interval: float,
        rescan_interval: float,
        rotate_wait: float,
    ) -> None:
        self.stop = stop
        files: list[tuple[str, str, str]] = []
        last_scan = -rescan_interval
        while True:
            stopping = stop.is_set()
            now = time.monotonic()
            if now - last_scan >= rescan_interval:
                files = self._files(discover_files())
                last_scan = now
            self.visited.clear()
            for f in list(self.draining):
                self._drain(f, rotate_wait, final=stopping)
            for path, host, service in files:
                self.visit(path, host, service, follow=True)
            now = time.monotonic()
            for f in self.open.values():
                if f.marks and (stopping or now - f.last_data >= flush_interval):
                    self._close_pending(f)
            if self.batch and (stopping or now - self.batch_started >= flush_interval):
                self.deliver()
            if stopping:
                return
            stop.wait(poll_interval)

    def _drain(self, f: _Open, rotate_wait: float, *, final: bool) -> None:
        """Read a rotated file through its descriptor until it has been quiet a while."""
        before = f.read_to
        quiet = f.rotated_at is not None and time.monotonic() - f.rotated_at >= rotate_wait
        self._read(f, final=quiet or final)
        if f.read_to != before:
            f.rotated_at = time.monotonic()
        elif quiet or final:
            self._finish(f, done=False)
            self.draining.remove(f)
