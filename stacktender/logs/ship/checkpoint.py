"""Per-file checkpoints of a shipper: how far each file has been delivered.

A file is identified by its device and inode *and* by ``head``, a digest of its first
line. The inode follows a file through renames (``nova-api.log`` becoming
``nova-api.log.1``); the head tells a new file that reuses a freed inode, or a file
truncated and rewritten in place, from the one the checkpoint was taken on. The head
also recognises the same content under another inode: a compressed rotation
(``nova-api.log.2.gz``) or a ``copytruncate`` copy continues from the offset its
original reached instead of starting over.

``offset`` counts bytes of the (decompressed) content up to the end of the last line
the destination acknowledged; ``tail`` is a digest of the bytes just before it, checked
before resuming so that a file rewritten past the old offset is not resumed mid-line.

``gen`` names one file's content for document ids (``digest(gen, offset)``). It is
drawn when a file is first seen and saved before anything of it is sent, so a replay
reuses it; it is not derived from the content because different files can begin with
the same line (every ``*-manage.log`` of a testcloud starts with the same eventlet
warning) and freed inodes are reused: such ids would let lines overwrite each other.

The store is one JSON file per destination, replaced atomically (write a temporary
file, fsync, rename, fsync the directory): a crash leaves either the old or the new
checkpoints, never a torn file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from stacktender.logs.ship.base import ShipError

__all__ = [
    "HEAD_BYTES",
    "PREFIX_BYTES",
    "TAIL_BYTES",
    "Checkpoint",
    "CheckpointStore",
    "digest",
    "new_generation",
]

HEAD_BYTES = 1024
"""At most this many bytes of the first line make up a file's head digest."""
TAIL_BYTES = 1024
"""At most this many bytes before the offset make up the tail digest."""
PREFIX_BYTES = 4096
"""At most this many first bytes make up the prefix digest."""
FORMAT_VERSION = 1


def digest(data: bytes) -> str:
    """Short content digest used for heads, tails and document ids."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def new_generation() -> str:
    """A fresh name for a newly seen file's content."""
    return secrets.token_hex(8)


@dataclass(slots=True)
class Checkpoint:
    """How far one file (one content on one inode) has been delivered."""

    dev: int
    ino: int
    head: str
    gen: str = ""
    """Names this content in document ids; inherited by a copy that continues it."""
    host: str = ""
    service: str = ""
    offset: int = 0
    lineno: int = 0
    """Lines before ``offset``: keeps record line numbers right after a resume."""
    tail: str = ""
    tail_len: int = 0
    path: str = ""
    """The name the file had when last seen."""
    origin: str = ""
    """The live name (``nova-api.log``) the file was found under while its lines may
    still be unshipped; a run over that name finishes it after a rotation."""
    prefix: str = ""
    prefix_len: int = 0
    """Digest and length of the file's first bytes (up to PREFIX_BYTES) when first seen:
    a copy must match them, and more than the head, to continue this file."""
    compressed: bool = False
    done: bool = False
    """A compressed file delivered to its end: it is never read again."""
    seen: float = 0.0
    """When a run last saw the file; entries unseen for long are forgotten."""

    @property
    def key(self) -> str:
        return f"{self.dev}:{self.ino}:{self.head}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class CheckpointStore:
    """The checkpoints of one destination, loaded from and saved to one JSON file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._entries: dict[str, Checkpoint] = {}
        self._load()

    def _load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ShipError(f"cannot read checkpoints {self.path}: {exc.strerror or exc}") from None
        try:
            data = json.loads(text)
            entries = [Checkpoint.from_dict(item) for item in data["files"]]
        except (ValueError, KeyError, TypeError) as exc:
            # Starting over would ship every file again: refuse and let the operator decide.
            raise ShipError(
                f"checkpoint file {self.path} is unreadable ({exc}); move it away to ship "
                "everything again"
            ) from None
        self._entries = {cp.key: cp for cp in entries}

    def __iter__(self) -> Iterator[Checkpoint]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, dev: int, ino: int, head: str) -> Checkpoint | None:
        """The checkpoint of exactly this file and content."""
        return self._entries.get(f"{dev}:{ino}:{head}")

    def same_content(self, head: str, host: str, service: str) -> list[Checkpoint]:
        """Checkpoints of the same host's and service's files that start with the same
        first line (a rotated, compressed or copied version), furthest first."""
        found = [
            cp
            for cp in self._entries.values()
            if cp.head == head and cp.host == host and cp.service == service
        ]
        return sorted(found, key=lambda cp: cp.offset, reverse=True)

    def named(self, path: str) -> list[Checkpoint]:
        """Checkpoints whose file was last seen under this name."""
        return [cp for cp in self._entries.values() if cp.path == path]

    def rotated_from(self, origin: str) -> list[Checkpoint]:
        """Checkpoints of files that were live under this name and may hold more."""
        return [cp for cp in self._entries.values() if cp.origin == origin and not cp.done]

    def put(self, checkpoint: Checkpoint) -> None:
        self._entries[checkpoint.key] = checkpoint

    def forget(self, older_than: float) -> int:
        """Drop checkpoints not seen since ``older_than`` (epoch seconds); return how many."""
        stale = [k for k, cp in self._entries.items() if cp.seen and cp.seen < older_than]
        for key in stale:
            del self._entries[key]
        return len(stale)

    def save(self) -> None:
        """Replace the checkpoint file atomically."""
        data = {
            "version": FORMAT_VERSION,
            "saved": time.time(),
            "files": [asdict(cp) for cp in sorted(self._entries.values(), key=_order)],
        }
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=folder)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(data, out, indent=1)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            _fsync_dir(folder)
        except OSError as exc:
            raise ShipError(f"cannot save checkpoints {self.path}: {exc.strerror or exc}") from None


def _order(cp: Checkpoint) -> tuple[str, int, int]:
    return (cp.path, cp.dev, cp.ino)


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
