"""Which checkpoint a file on disk belongs to: live names, copies, rotated generations.

A file that is new to the checkpoints may still be an old acquaintance: the compressed
or copied version of a file partly shipped (it then continues that file's offset and
ids), or the rotated name of a file that was live under another name.
"""

from __future__ import annotations

import os
import re
import time

from stacktender.logs.ship.checkpoint import Checkpoint, digest, new_generation
from stacktender.logs.ship.logfile import UNREADABLE, LogFile
from stacktender.logs.sources import service_from_name

__all__ = ["continues", "find_rotated", "is_live_name", "new_checkpoint", "stat_key"]


def new_checkpoint(
    log: LogFile, head: str, prefix: bytes, path: str, host: str, service: str
) -> Checkpoint:
    """The checkpoint of a file seen for the first time: offset 0, a new generation."""
    cp = Checkpoint(
        log.dev, log.ino, head, new_generation(), host, service,
        compressed=log.compressed, prefix=digest(prefix), prefix_len=len(prefix),
    )  # fmt: skip
    if is_live_name(path) and not log.compressed:
        cp.origin = os.path.abspath(path)
    cp.path, cp.seen = os.path.abspath(path), time.time()
    return cp


def continues(log: LogFile, prefix: bytes, other: Checkpoint) -> bool:
    """Whether ``log`` is a copy of ``other``'s file: same first bytes (more than
    the head line, or a delivered offset whose preceding bytes match too)."""
    if other.prefix_len:
        if len(prefix) < other.prefix_len:
            return False
        if digest(prefix[: other.prefix_len]) != other.prefix:
            return False
    if other.offset == 0:
        # nothing delivered yet: only a prefix longer than the first line tells a
        # copy from another file that starts with the same line
        return 0 <= prefix.find(b"\n") < other.prefix_len - 1 and log.resume(0, "", 0)
    return log.resume(other.offset, other.tail, other.tail_len)


_ROTATED_NAME = re.compile(r"\.\d+(\.(gz|bz2|xz))?$|\.(gz|bz2|xz)$|-\d{8}(\.(gz|bz2|xz))?$")


def is_live_name(path: str) -> bool:
    """``nova-api.log``, not ``nova-api.log.1``, ``.2.gz`` or ``-20261125``."""
    return not _ROTATED_NAME.search(os.path.basename(path))


def stat_key(st: os.stat_result) -> tuple[int, int, int, float]:
    """What must change for a settled file (done, unreadable) to be looked at again."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime)


def find_rotated(path: str, old: Checkpoint) -> str | None:
    """The rotated name of the file ``old`` was taken on: same inode, or compressed copy."""
    folder = os.path.dirname(path) or "."
    base = os.path.basename(path)
    service = service_from_name(base)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return None
    for entry in entries:
        if entry.name == base or service_from_name(entry.name) != service:
            continue
        try:
            st = entry.stat()
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (old.dev, old.ino):
            return entry.path
    for entry in entries:
        if entry.name == base or service_from_name(entry.name) != service:
            continue
        try:
            log = LogFile(entry.path)
        except OSError:
            continue
        try:
            if log.compressed and log.head() == old.head:
                return entry.path
        except UNREADABLE:
            continue
        finally:
            log.close()
    return None
