"""LogFile: complete lines with byte offsets, resuming, heads, compressed files."""

from __future__ import annotations

import bz2
import gzip
import lzma
from pathlib import Path

import pytest

from stacktender.logs.ship.checkpoint import TAIL_BYTES, digest
from stacktender.logs.ship.logfile import LogFile


def _lines(log: LogFile, final: bool = False) -> list[tuple[bytes, int, int]]:
    return [(raw, start, end) for raw, start, end, _ in log.lines(final=final)]


def test_complete_lines_only_partial_waits(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(b"one\ntwo\r\nthr")
    log = LogFile(str(path))
    assert _lines(log) == [(b"one\n", 0, 4), (b"two\r\n", 4, 9)]
    assert log.pos == 9 and _lines(log) == []
    with open(path, "ab") as out:
        out.write(b"ee\nfour")
    assert _lines(log) == [(b"three\n", 9, 15)]
    assert _lines(log, final=True) == [(b"four", 15, 19)]
    log.close()


def test_head_needs_a_complete_first_line(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(b"first line without newline")
    with_partial = LogFile(str(path))
    assert with_partial.head() is None
    with open(path, "ab") as out:
        out.write(b"\nsecond\n")
    assert with_partial.head() == digest(b"first line without newline\n")
    with_partial.close()


def test_resume_checks_the_bytes_before_the_offset(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(b"aaa\nbbb\nccc\n")
    log = LogFile(str(path))
    assert log.resume(8, digest(b"bbb\n"), 4) and _lines(log) == [(b"ccc\n", 8, 12)]
    assert not log.resume(8, digest(b"xxx\n"), 4) and log.pos == 0
    assert not log.resume(100, digest(b"bbb\n"), 4) and log.pos == 0
    log.close()


def test_oversized_line_is_cut_and_skipped_to_its_end(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    long = b"x" * 5000 + b"END\n"
    path.write_bytes(long + b"next\n")
    log = LogFile(str(path), max_line=1000)
    (raw, start, end, tail), (raw2, start2, _, _) = list(log.lines())
    assert len(raw) == 1000 and (start, end) == (0, len(long))
    assert tail == long[-TAIL_BYTES:]
    assert (raw2, start2) == (b"next\n", len(long))
    log.close()


@pytest.mark.parametrize("opener", [gzip.open, bz2.open, lzma.open])
def test_compressed_files_count_decompressed_offsets(tmp_path: Path, opener: object) -> None:
    path = tmp_path / "a.log.1.x"
    with opener(path, "wb") as out:  # type: ignore[operator]
        out.write(b"aaa\nbbb\nlast without newline")
    log = LogFile(str(path))
    assert log.compressed and log.head() == digest(b"aaa\n")
    # the end of a compressed file is final: its last line is complete
    assert _lines(log) == [(b"aaa\n", 0, 4), (b"bbb\n", 4, 8), (b"last without newline", 8, 28)]
    assert log.resume(8, digest(b"bbb\n"), 4)
    assert [start for _, start, _ in _lines(log)] == [8]
    log.close()


def test_truncated_gzip_raises_an_unreadable_error(tmp_path: Path) -> None:
    path = tmp_path / "a.log.gz"
    data = gzip.compress(b"".join(b"line %d\n" % n for n in range(5000)))
    path.write_bytes(data[: len(data) // 2])
    log = LogFile(str(path))
    with pytest.raises(EOFError):
        _lines(log)
    log.close()
