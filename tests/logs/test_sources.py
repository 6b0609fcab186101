"""Sources: files, compression by magic bytes, directories, stdin, per-host folders, SSH to
a real sshd, and bad input of every kind, counted and reported, never raised."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stacktender.logs.merge import MergedLogs
from stacktender.logs.record import ParseStats
from stacktender.logs.sources import MAX_LINE, LogSource, discover, service_from_name

sys.path.insert(0, str(Path(__file__).parents[1]))

from support import free_port


def oslo(n: int, service: str = "nova.compute.manager", second: int = 0) -> str:
    """Line ``n`` of a file: a millisecond after line n - 1, from ``second`` on."""
    at = second * 1000 + n
    stamp = f"16:{at // 60_000 % 60:02d}:{at // 1000 % 60:02d}.{at % 1000:03d}"
    return f"2026-11-25 {stamp} 42 INFO {service} [-] line {n}\n"


def text_of(count: int, second: int = 0) -> str:
    return "".join(oslo(n, second=second) for n in range(count))


def read(source: LogSource) -> list[str]:
    return list(source.lines())


@pytest.mark.parametrize(
    ("name", "pack"),
    [
        ("plain.log", lambda b: b),
        ("zipped.log.2.gz", gzip.compress),
        ("bzipped.log.3.bz2", bz2.compress),
        ("xzipped.json.xz", lzma.compress),
        ("no-suffix-but-gzip.log", gzip.compress),  # magic bytes decide, not the name
        ("suffix-but-plain.log.gz", lambda b: b),
    ],
)
def test_files_plain_and_compressed(tmp_path: Path, name: str, pack: Callable[[bytes], bytes]):
    data = text_of(500)
    (tmp_path / name).write_bytes(pack(data.encode()))
    (source,) = discover([str(tmp_path / name)], host="h1")
    assert read(source) == data.splitlines()
    assert source.stats == ParseStats()


def test_multi_member_gzip_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "x.log.gz"
    path.write_bytes(gzip.compress(b"a\r\nb\r\n") + gzip.compress(b"c\nd"))
    (source,) = discover([str(path)], host="h")
    assert read(source) == ["a", "b", "c", "d"]


def test_directory_with_rotated_files_and_services(tmp_path: Path) -> None:
    (tmp_path / "nova").mkdir()
    (tmp_path / "nova/nova-compute.log").write_text(text_of(3, second=2))
    (tmp_path / "nova/nova-compute.log.1").write_text(text_of(3, second=1))
    (tmp_path / "nova/nova-compute.log.2.gz").write_bytes(gzip.compress(text_of(3).encode()))
    (tmp_path / "nova/nova-api.log-20261124.gz").write_bytes(gzip.compress(b"x\n"))
    (tmp_path / "syslog").write_text("Nov 25 16:00:00 h1 kernel: up\n")
    (tmp_path / "README").write_text("not a log")
    (tmp_path / "core.dump").write_bytes(b"\x7fELF")
    sources = discover([str(tmp_path)], host="h1")
    assert [(Path(s.name).name, s.service, s.host) for s in sources] == [
        ("nova-api.log-20261124.gz", "nova-api", "h1"),
        ("nova-compute.log", "nova-compute", "h1"),
        ("nova-compute.log.1", "nova-compute", "h1"),
        ("nova-compute.log.2.gz", "nova-compute", "h1"),
        ("syslog", "syslog", "h1"),
    ]
    compute = [s for s in sources if s.service == "nova-compute"]
    merged = list(MergedLogs(compute))
    assert [r.ts for r in merged] == sorted(r.ts for r in merged)
    assert len(merged) == 9  # rotated files merge back into one time line


@pytest.mark.parametrize(
    ("name", "service"),
    [
        ("nova-compute.log", "nova-compute"),
        ("nova-compute.log.2.gz", "nova-compute"),
        ("/var/log/glance/glance-api.json.xz", "glance-api"),
        ("neutron-server.log-20261125", "neutron-server"),
        ("syslog.1", "syslog"),
        ("weird", "weird"),
    ],
)
def test_service_from_name(name: str, service: str) -> None:
    assert service_from_name(name) == service


def test_per_host_folders_as_ansible_fetch_writes_them(tmp_path: Path) -> None:
    for host, service in (("ctl1", "nova-api"), ("cmp1", "nova-compute"), ("cmp2", "nova-compute")):
        folder = tmp_path / host / "var/log/nova"
        folder.mkdir(parents=True)
        (folder / f"{service}.log").write_text(text_of(2))
    (tmp_path / "stray.log").write_text(text_of(1))
    sources = discover([str(tmp_path)], by_host=True, host="here")
    assert sorted((s.host, s.service) for s in sources) == [
        ("cmp1", "nova-compute"), ("cmp2", "nova-compute"), ("ctl1", "nova-api"),
        ("here", "stray"),
    ]  # fmt: skip
    records = list(MergedLogs(sources))
    assert {r.host for r in records} == {"ctl1", "cmp1", "cmp2", "here"}


def test_stdin_is_a_source(tmp_path: Path) -> None:
    script = (
        "from stacktender.logs.sources import discover\n"
        "(s,) = discover(['-'], host='piped')\n"
        "records = list(s.records())\n"
        "print(len(records), records[0].host, records[0].service, records[-1].message)\n"
    )
    data = text_of(1000).encode()
    result = subprocess.run(
        [sys.executable, "-c", script], input=gzip.compress(data), capture_output=True, check=True
    )
    assert result.stdout.decode().split() == ["1000", "piped", "stdin", "line", "999"]


def test_journalctl_piped_in(tmp_path: Path) -> None:
    lines = (Path(__file__).parent / "data/journald-short-iso.txt").read_text()
    result = subprocess.run(
        [sys.executable, "-m", "stacktender.cli.main", "logs", "merge", "-", "--no-color"],
        input=lines, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert len(result.stdout.splitlines()) == len(lines.splitlines())
    assert "ctl1 nova-compute" in result.stdout and "cmp1 nova-compute" in result.stdout


# -- bad input --------------------------------------------------------------------------------


def test_binary_garbage(tmp_path: Path) -> None:
    path = tmp_path / "garbage.log"
    path.write_bytes(os.urandom(300_000) + b"\n" + text_of(5).encode() + os.urandom(1000))
    (source,) = discover([str(path)], host="h")
    records = list(source.records())
    stats = source.stats
    assert stats.lines == stats.records + stats.continuation + stats.unparsed
    assert stats.records == 5 and stats.unparsed > 0 and stats.decode_errors > 0
    assert stats.errors == []
    assert sum(len(r.lines) for r in records) == stats.lines


def test_truncated_gzip_yields_what_it_can_and_reports(tmp_path: Path) -> None:
    packed = gzip.compress(text_of(20_000).encode())
    path = tmp_path / "cut.log.gz"
    path.write_bytes(packed[: len(packed) // 2])
    (source,) = discover([str(path)], host="h")
    records = list(source.records())
    assert 5_000 < len(records) < 20_000
    assert [r.message for r in records[:2]] == ["line 0", "line 1"]
    (error,) = source.stats.errors
    assert "cut.log.gz: unreadable after" in error and "truncated" in error


def test_corrupt_xz_and_bz2_are_reported(tmp_path: Path) -> None:
    for name, pack in (("a.log.xz", lzma.compress), ("b.log.bz2", bz2.compress)):
        packed = bytearray(pack(text_of(2000).encode()))
        packed[len(packed) // 2 : len(packed) // 2 + 64] = b"\x00" * 64
        (tmp_path / name).write_bytes(bytes(packed))
    sources = discover([str(tmp_path)], host="h")
    for source in sources:
        list(source.records())
        assert len(source.stats.errors) == 1, source.name


def test_ten_megabyte_line_is_cut_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "long.log"
    huge = "2026-11-25 16:00:00.000 1 INFO x [-] " + "é" * 5_000_000  # 10 MB of UTF-8
    path.write_text(oslo(1) + huge + "\n" + oslo(2) + "x" * (MAX_LINE + 10))
    (source,) = discover([str(path)], host="h")
    records = list(source.records())
    stats = source.stats
    assert stats.oversized == 2 and stats.decode_errors == 0 and stats.lines == 4
    assert [r.message[:4] for r in records] == ["line", "éééé", "line"]
    assert len(records[1].lines[0].encode()) <= MAX_LINE
    assert records[2].lines[1] == "x" * MAX_LINE


def test_invalid_utf8_is_replaced_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "latin1.log"
    path.write_bytes(
        oslo(1).encode() + "2026-11-25 16:00:01.000 1 INFO x [-] café\n".encode("latin-1")
    )
    (source,) = discover([str(path)], host="h")
    records = list(source.records())
    assert source.stats.decode_errors == 1
    assert records[1].message == "caf\ufffd" and records[1].parsed


def test_unknown_format_counted(tmp_path: Path) -> None:
    path = tmp_path / "apache.log"
    path.write_text('127.0.0.1 - - [25/Nov/2026:16:00:00 +0000] "GET / HTTP/1.1" 200 5\n' * 7)
    (source,) = discover([str(path)], host="h")
    assert len(list(source.records())) == 7 and source.stats.unparsed == 7


def test_missing_and_deleted_files_are_reported_and_the_others_still_read(tmp_path: Path) -> None:
    for name in ("a.log", "b.log"):
        (tmp_path / name).write_text(text_of(3))
    sources = discover([str(tmp_path), str(tmp_path / "nope.log")], host="h")
    (tmp_path / "a.log").unlink()  # between discovery and reading
    logs = MergedLogs(sources)
    assert len(list(logs)) == 3
    errors = logs.stats.errors
    assert any("a.log: No such file or directory" in e for e in errors)
    assert any("no such file or directory: " in e and "nope.log" in e for e in errors)


def _read_while(path: Path, change: Callable[[], None]) -> tuple[list[str], ParseStats]:
    (source,) = discover([str(path)], host="h")
    batches = source.batches()
    lines = list(next(batches))  # the file is open and read in part
    change()
    for batch in batches:
        lines += batch
    return lines, source.stats


def test_file_rotated_while_read_is_read_to_its_end_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "nova-api.log"
    data = text_of(20_000)
    path.write_text(data)

    def rotate() -> None:
        path.rename(tmp_path / "nova-api.log.1")
        path.write_text(oslo(999_999))

    lines, stats = _read_while(path, rotate)
    assert lines == data.splitlines()
    (report,) = stats.errors
    assert "rotated while being read" in report


def test_file_truncated_while_read_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "nova-api.log"
    path.write_text(text_of(20_000))
    lines, stats = _read_while(path, lambda: os.truncate(path, 0))
    assert 0 < len(lines) < 20_000
    (report,) = stats.errors
    assert "truncated while being read" in report


def test_file_deleted_while_read_is_read_to_its_end(tmp_path: Path) -> None:
    path = tmp_path / "nova-api.log"
    path.write_text(text_of(20_000))
    lines, stats = _read_while(path, path.unlink)
    assert len(lines) == 20_000
    assert stats.errors == [f"{path}: deleted while being read (read to its end)"]


@pytest.mark.integration
def test_memory_stays_flat_from_100k_to_400k_lines(tmp_path: Path) -> None:
    """Peak RSS of a child that merges 4 files, at 100k and at 400k lines."""

    def peak(lines: int) -> int:
        folder = tmp_path / str(lines)
        folder.mkdir()
        for f in range(4):
            with open(folder / f"s{f}.log", "w") as out:
                for block in range(lines // 4000):
                    out.write("".join(
                        f"2026-11-25 {block // 3600 % 24:02d}:{block // 60 % 60:02d}:"
                        f"{block % 60:02d}.{n // 4 % 1000:03d} {f} INFO s{f} "
                        f"[None req-{n:08d}-0000-4000-8000-000000000000 - - - - - -] m {n}\n"
                        for n in range(1000)
                    ))  # fmt: skip
        script = (
            "import resource, sys\n"
            "from stacktender.logs.merge import MergedLogs\n"
            "from stacktender.logs.sources import discover\n"
            "n = sum(1 for _ in MergedLogs(discover([sys.argv[1]], host='h')))\n"
            "print(n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", script, str(folder)], capture_output=True, text=True, check=True
        ).stdout.split()
        assert int(out[0]) == lines
        return int(out[1])

    small, large = peak(100_000), peak(400_000)
    assert large < small * 1.15 + 4096, (small, large)  # KB


# -- SSH against a real sshd ----------------------------------------------------------------


@pytest.fixture
def sshd(ssh_server: Any) -> dict[str, Any]:
    return {"options": ssh_server.ssh_options, "user": ssh_server.user}


@pytest.mark.integration
def test_ssh_sources_read_remote_files(tmp_path: Path, sshd: dict[str, Any]) -> None:
    remote = tmp_path / "remote/var/log/nova"
    remote.mkdir(parents=True)
    (remote / "nova-compute.log").write_text(text_of(3000, second=5))
    (remote / "nova-compute.log.1.gz").write_bytes(gzip.compress(text_of(2000).encode()))
    (remote / "notes.md").write_text("not a log")
    target = f"{sshd['user']}@127.0.0.1:{tmp_path / 'remote'}"
    sources = discover([target], ssh_options=sshd["options"])
    assert [(s.host, s.service, Path(s.name).name) for s in sources] == [
        ("127.0.0.1", "nova-compute", "nova-compute.log"),
        ("127.0.0.1", "nova-compute", "nova-compute.log.1.gz"),
    ]
    logs = MergedLogs(sources)
    records = list(logs)
    assert len(records) == 5000 and logs.stats.errors == []
    assert [r.ts for r in records] == sorted(r.ts for r in records)


@pytest.mark.integration
def test_ssh_failures_are_reported(tmp_path: Path, sshd: dict[str, Any]) -> None:
    (tmp_path / "gone.log").write_text(text_of(3))
    missing = f"127.0.0.1:{tmp_path / 'nothing-here'}"
    sources = discover([f"127.0.0.1:{tmp_path}", missing], ssh_options=sshd["options"])
    (tmp_path / "gone.log").unlink()  # listed, then gone before it is read
    logs = MergedLogs(sources)
    assert list(logs) == []
    errors = " | ".join(logs.stats.errors)
    assert "gone.log" in errors and "No such file or directory" in errors
    assert "nothing-here" in errors


@pytest.mark.integration
def test_ssh_to_a_closed_port_is_reported_not_raised(sshd: dict[str, Any]) -> None:
    options = ["-p", str(free_port()), *sshd["options"][2:]]
    start = time.monotonic()
    (source,) = discover(["127.0.0.1:/var/log"], ssh_options=options, timeout=5)
    assert list(source.records()) == []
    assert "ssh 127.0.0.1:" in source.stats.errors[0] and time.monotonic() - start < 30
