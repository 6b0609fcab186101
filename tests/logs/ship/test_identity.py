"""Recognising files: live names, copies of a partly shipped file, rotated generations."""

from __future__ import annotations

import gzip
from pathlib import Path

from stacktender.logs.ship.checkpoint import PREFIX_BYTES, Checkpoint, digest
from stacktender.logs.ship.identity import continues, find_rotated, is_live_name, new_checkpoint
from stacktender.logs.ship.logfile import LogFile

BANNER = b"Eventlet is deprecated.\n"


def test_live_and_rotated_names() -> None:
    assert is_live_name("/var/log/nova/nova-api.log")
    assert is_live_name("glance-api.json")
    for rotated in ("nova-api.log.1", "nova-api.log.2.gz", "nova-api.log-20261125",
                    "nova-api.log-20261125.xz", "keystone.log.10.bz2"):  # fmt: skip
        assert not is_live_name(rotated), rotated


def _checkpoint(path: Path) -> tuple[LogFile, Checkpoint]:
    log = LogFile(str(path))
    head = log.head()
    assert head is not None
    return log, new_checkpoint(log, head, log.prefix(PREFIX_BYTES), str(path), "h", "svc")


def test_a_copy_continues_another_file_with_the_same_first_line_does_not(
    tmp_path: Path,
) -> None:
    original = tmp_path / "svc.log"
    original.write_bytes(BANNER + b"2026-11-25 first record\n")
    log, cp = _checkpoint(original)
    log.close()
    copy = tmp_path / "svc.log.1.gz"
    copy.write_bytes(gzip.compress(original.read_bytes() + b"more\n"))
    stranger = tmp_path / "svc.log.2"
    stranger.write_bytes(BANNER + b"2026-11-26 another file\n")
    for path, expected in ((copy, True), (stranger, False)):
        other = LogFile(str(path))
        assert continues(other, other.prefix(PREFIX_BYTES), cp) is expected, path
        other.close()


def test_only_a_first_line_cannot_prove_a_copy(tmp_path: Path) -> None:
    original = tmp_path / "svc.log"
    original.write_bytes(BANNER)
    log, cp = _checkpoint(original)
    log.close()
    copy = tmp_path / "svc.log.1.gz"
    copy.write_bytes(gzip.compress(BANNER + b"later\n"))
    other = LogFile(str(copy))
    assert not continues(other, other.prefix(PREFIX_BYTES), cp)
    other.close()


def test_find_rotated_by_inode_then_by_compressed_content(tmp_path: Path) -> None:
    live = tmp_path / "svc.log"
    live.write_bytes(BANNER + b"x\n")
    log, cp = _checkpoint(live)
    log.close()
    live.rename(tmp_path / "svc.log.1")
    live.write_bytes(b"new\n")
    (tmp_path / "other.log.1").write_bytes(b"unrelated\n")
    assert find_rotated(str(live), cp) == str(tmp_path / "svc.log.1")
    (tmp_path / "svc.log.1.gz").write_bytes(gzip.compress((tmp_path / "svc.log.1").read_bytes()))
    (tmp_path / "svc.log.1").unlink()
    assert find_rotated(str(live), cp) == str(tmp_path / "svc.log.1.gz")
    assert digest(BANNER) == cp.head
