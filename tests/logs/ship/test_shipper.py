"""ship(): checkpoints with real files. Every line is delivered exactly once across
crashes, restarts, rotation (rename, compression, copytruncate) and truncation."""

from __future__ import annotations

import fcntl
import gzip
import os
import shutil
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ship_support import (
    Answer,
    Collector,
    FakeLoki,
    FakeOpenSearch,
    FakeServer,
    numbers_of,
    oslo_line,
    write_lines,
)

from stacktender.logs.record import LogRecord
from stacktender.logs.ship import (
    CheckpointStore,
    DeliveryError,
    LokiDestination,
    OpenSearchDestination,
    RejectedRecords,
    ShipError,
    ShipRecord,
    ship,
)


def _numbers(collector: Collector) -> list[int]:
    return numbers_of([r.record.message for r in collector.received])


def _ship(paths: list[Path], dest: Any, state: Path, **options: Any) -> Any:
    return ship([str(p) for p in paths], dest, state_dir=state, host="ctl1", **options)


def test_first_run_ships_complete_records_a_rerun_nothing(tmp_path: Path) -> None:
    log = tmp_path / "nova-api.log"
    write_lines(log, range(20))
    first = Collector()
    report = _ship([log], first, tmp_path / "state")
    assert _numbers(first) == list(range(20))
    assert report.sent == 20 and report.failed == report.skipped == 0
    file = report.files[str(log)]
    assert (file.start, file.offset, file.state) == (0, log.stat().st_size, "shipped")
    assert file.stats.records == 20 and file.stats.continuation == 3 * 3  # three tracebacks
    traceback = next(r.record for r in first.received if r.record.message == "line 3")
    assert traceback.traceback[-1] == "ValueError: bad 3" and traceback.host == "ctl1"
    second = Collector()
    again = _ship([log], second, tmp_path / "state")
    assert second.received == [] and again.files[str(log)].state == "up to date"


def test_a_line_being_written_waits_for_its_newline(tmp_path: Path) -> None:
    log = tmp_path / "nova-api.log"
    write_lines(log, range(3))
    with open(log, "a") as out:
        out.write("2026-11-25 16:00:09.000 4242 INFO nova.api [-] line 3 half")
    first = Collector()
    _ship([log], first, tmp_path / "state")
    assert _numbers(first) == [0, 1, 2]
    with open(log, "a") as out:
        out.write(" written\n")
    second = Collector()
    _ship([log], second, tmp_path / "state")
    assert [r.record.message for r in second.received] == ["line 3 half written"]


@pytest.mark.parametrize(("fail_after", "keep_partial"), [(0, 0), (7, 3), (45, 10), (99, 1)])
def test_crash_mid_batch_then_restart_delivers_every_line_once(
    tmp_path: Path, fail_after: int, keep_partial: int
) -> None:
    logs = [tmp_path / "nova-api.log", tmp_path / "nova-compute.log"]
    write_lines(logs[0], range(0, 60))
    write_lines(logs[1], range(1000, 1050))
    crashing = Collector(fail_after=fail_after, keep_partial=keep_partial)
    with pytest.raises(DeliveryError) as caught:
        _ship(logs, crashing, tmp_path / "state", batch_size=16)
    assert caught.value.report is not None
    acked = crashing.ids[: len(crashing.ids) - crashing.unacknowledged]
    restarted = Collector()
    report = _ship(logs, restarted, tmp_path / "state", batch_size=16)
    assert report.error is None
    # nothing acknowledged before the crash is sent again ...
    assert not set(acked) & set(restarted.ids)
    # ... every record arrives, and the only repeats are the crashed batch's, same ids
    delivered = Counter(crashing.ids + restarted.ids)
    assert sorted(_numbers(crashing) + _numbers(restarted)) == sorted(
        [*range(60), *range(1000, 1050), *_numbers(crashing)[len(acked) :]]
    )
    assert len(delivered) == 110
    assert {i for i, n in delivered.items() if n > 1} == set(crashing.ids[len(acked) :])


@pytest.mark.integration
def test_crash_against_opensearch_leaves_each_line_one_document(
    tmp_path: Path, opensearch: tuple[FakeOpenSearch, FakeServer]
) -> None:
    fake, server = opensearch
    log = tmp_path / "nova-api.log"
    write_lines(log, range(100))
    # the cluster indexes part of a batch, then fails for good
    fake.item_status = lambda meta, doc: 503 if len(fake.docs) >= 37 else None
    dest = OpenSearchDestination(server.url, retries=1, backoff=0.001)
    with pytest.raises(DeliveryError):
        _ship([log], dest, tmp_path / "state", batch_size=10)
    fake.item_status = lambda meta, doc: None
    _ship([log], dest, tmp_path / "state", batch_size=10)
    dest.close()
    assert len(fake.docs) == 100 and fake.writes == 100 + (37 - 30)
    assert sorted(int(d["message"].split()[-1]) for d in fake.docs.values()) == list(range(100))


@pytest.mark.integration
def test_crash_against_loki_leaves_each_line_once(
    tmp_path: Path, loki: tuple[FakeLoki, FakeServer]
) -> None:
    fake, server = loki
    log = tmp_path / "nova-api.log"
    write_lines(log, range(50))
    calls = {"n": 0}

    def third_push_fails(request: Any) -> Answer | None:
        calls["n"] += 1
        return Answer(500, b"ingester unavailable") if calls["n"] == 3 else None

    fake.request_status = third_push_fails
    dest = LokiDestination(server.url, retries=0)
    with pytest.raises(DeliveryError):
        _ship([log], dest, tmp_path / "state", batch_size=10)
    _ship([log], dest, tmp_path / "state", batch_size=10)
    dest.close()
    lines = [v[1].split("\n")[0] for v in fake.entries()]
    assert len(lines) == 50 and len(set(lines)) == 50


def test_rename_rotation_finishes_the_old_file_through_its_new_name(tmp_path: Path) -> None:
    log = tmp_path / "nova-api.log"
    write_lines(log, range(10))
    state = tmp_path / "state"
    first = Collector()
    _ship([log], first, state)
    write_lines(log, range(10, 15))  # written before the rotation, not shipped yet
    log.rename(tmp_path / "nova-api.log.1")
    write_lines(log, range(15, 20))
    second = Collector()
    report = _ship([log], second, state)  # only the live name is given
    assert _numbers(first) + _numbers(second) == list(range(20))
    assert any("rotated" in e for e in report.files[str(log)].events)


def test_compressed_rotation_continues_where_the_plain_file_stopped(tmp_path: Path) -> None:
    log = tmp_path / "nova-api.log"
    write_lines(log, range(10))
    state = tmp_path / "state"
    first = Collector()
    _ship([tmp_path], first, state)
    write_lines(log, range(10, 15))
    rotated = tmp_path / "nova-api.log.1.gz"
    with open(log, "rb") as src, gzip.open(rotated, "wb") as out:
        shutil.copyfileobj(src, out)
    log.unlink()
    write_lines(log, range(15, 20))
    os.utime(rotated, (time.time() - 60, time.time() - 60))
    second = Collector()
    report = _ship([tmp_path], second, state)
    assert _numbers(first) + _numbers(second) == list(range(20))
    assert any("same content" in e for e in report.files[str(rotated)].events)
    third = Collector()
    again = _ship([tmp_path], third, state)
    assert third.received == [] and again.files[str(rotated)].state == "already shipped"
    # the same line keeps its id whichever file it was read from
    gz_ids = {r.id for r in second.received[:5]}
    assert len(gz_ids) == 5 and not gz_ids & set(first.ids)


def test_copytruncate_copy_continues_and_live_file_starts_over(tmp_path: Path) -> None:
    log = tmp_path / "nova-api.log"
    write_lines(log, range(10))
    state = tmp_path / "state"
    first = Collector()
    _ship([tmp_path], first, state)
    write_lines(log, range(10, 14))
    copy = tmp_path / "nova-api.log.1"
    shutil.copyfile(log, copy)
    os.utime(copy, (time.time() - 60, time.time() - 60))
    with open(log, "r+") as out:
        out.truncate(0)
    write_lines(log, range(14, 18))
    second = Collector()
    _ship([tmp_path], second, state)
    assert sorted(_numbers(first) + _numbers(second)) == list(range(18))
    assert len(first.ids + second.ids) == len(set(first.ids + second.ids)) == 18


def test_truncated_in_place_starts_over(tmp_path: Path) -> None:
    log = tmp_path / "nova-api.log"
    write_lines(log, range(30))
    state = tmp_path / "state"
    _ship([log], Collector(), state)
    with open(log, "r+") as out:
        out.truncate(0)
    write_lines(log, range(100, 103))
    second = Collector()
    report = _ship([log], second, state)
    assert _numbers(second) == [100, 101, 102] and report.files[str(log)].start == 0


def test_rewritten_with_the_same_first_line_is_detected_by_the_tail(tmp_path: Path) -> None:
    log = tmp_path / "nova-api.log"
    write_lines(log, range(5))
    state = tmp_path / "state"
    first = Collector()
    _ship([log], first, state)
    write_lines(log, [0, 200, 201, 202, 203, 204, 205], mode="w")  # longer, same first line
    second = Collector()
    report = _ship([log], second, state)
    assert _numbers(second) == [0, 200, 201, 202, 203, 204, 205]
    assert any("starting over" in e for e in report.files[str(log)].events)
    # new lines at old offsets get new ids: they must not overwrite the shipped ones
    assert not set(first.ids) & set(second.ids)


BANNER = "Eventlet is deprecated. It is currently being maintained in bugfix mode\n"


def test_files_starting_with_the_same_line_never_share_ids(tmp_path: Path) -> None:
    # every *-manage.log of the testcloud starts with this same unparsed warning
    for name in ("nova-manage.log", "cinder-manage.log"):
        (tmp_path / name).write_text(BANNER)
        write_lines(tmp_path / name, range(5))
    dest = Collector()
    _ship([tmp_path], dest, tmp_path / "state")
    assert len(dest.ids) == len(set(dest.ids)) == 12


def test_lines_before_the_first_time_stamp_take_the_next_records_time(tmp_path: Path) -> None:
    log = tmp_path / "nova-manage.log"
    log.write_text(BANNER)
    write_lines(log, range(2))
    quiet = tmp_path / "other.log"
    quiet.write_text("no time stamp here\nnor here\n")
    os.utime(quiet, (1_700_000_000, 1_700_000_000))
    dest = Collector()
    _ship([log, quiet], dest, tmp_path / "state")
    by_file: dict[str, list[LogRecord]] = {}
    for item in dest.received:
        by_file.setdefault(Path(item.record.source).name, []).append(item.record)
    banner, first, _ = by_file["nova-manage.log"]
    assert not banner.parsed and banner.ts == first.ts > 0
    # nothing timed in the file: its mtime
    assert [r.ts for r in by_file["other.log"]] == [1_700_000_000] * len(by_file["other.log"])


def test_compressed_file_is_shipped_whole_once(tmp_path: Path) -> None:
    archive = tmp_path / "nova-api.log.3.gz"
    with gzip.open(archive, "wt") as out:
        for n in range(12):
            out.write(f"2026-11-20 10:00:{n:02d}.000 7 INFO nova.api [-] line {n}\n")
        out.write("2026-11-20 10:00:59.000 7 INFO nova.api [-] line 12")  # no final newline
    state = tmp_path / "state"
    first = Collector()
    _ship([archive], first, state)
    assert _numbers(first) == list(range(13))
    (checkpoint,) = list(CheckpointStore(state / "collector.checkpoints.json"))
    assert checkpoint.done and checkpoint.compressed
    second = Collector()
    assert _ship([archive], second, state).files[str(archive)].state == "already shipped"
    assert second.calls == 0


def test_truncated_archive_is_reported_and_not_marked_done(tmp_path: Path) -> None:
    archive = tmp_path / "nova-api.log.2.gz"
    data = gzip.compress(b"".join(
        b"2026-11-20 10:00:00.%03d 7 INFO nova.api [-] line %d\n" % (n % 1000, n)
        for n in range(3000)
    ))  # fmt: skip
    archive.write_bytes(data[: len(data) * 2 // 3])
    first = Collector()
    report = _ship([archive], first, tmp_path / "state")
    assert 0 < len(first.received) < 3000
    assert report.files[str(archive)].state == "error"
    (checkpoint,) = list(CheckpointStore(tmp_path / "state" / "collector.checkpoints.json"))
    assert not checkpoint.done and checkpoint.offset > 0


def test_filtered_records_are_counted_as_skipped_and_not_read_again(tmp_path: Path) -> None:
    log = tmp_path / "nova-api.log"
    write_lines(log, range(14))
    errors_only: Any = lambda record: record.level == "ERROR"  # noqa: E731
    first = Collector()
    report = _ship([log], first, tmp_path / "state", keep=errors_only)
    assert _numbers(first) == [3, 10] and report.skipped == 12
    write_lines(log, range(14, 18))
    second = Collector()
    _ship([log], second, tmp_path / "state", keep=errors_only)
    assert _numbers(second) == [17]


class _Refusing:
    """Refuses every record whose number is divisible by 5, accepts the rest."""

    name = "refusing"

    def __init__(self) -> None:
        self.accepted: list[LogRecord] = []

    def send(self, records: Any) -> None:
        bad = [(i, "HTTP 400 mapper_parsing_exception") for i, r in enumerate(records)
               if int(r.record.message.split()[-1]) % 5 == 0]  # fmt: skip
        self.accepted.extend(r.record for i, r in enumerate(records) if i not in dict(bad))
        if bad:
            raise RejectedRecords(bad)


def test_rejected_records_are_kept_in_the_rejected_file(tmp_path: Path) -> None:
    log = tmp_path / "nova-api.log"
    write_lines(log, range(12))
    dest = _Refusing()
    report = _ship([log], dest, tmp_path / "state", batch_size=5)
    assert report.failed == 3 and report.sent == 9
    lines = Path(report.rejected_file).read_text().splitlines()
    import json

    kept = [json.loads(line) for line in lines]
    assert [k["record"]["message"] for k in kept] == ["line 0", "line 5", "line 10"]
    assert all(k["reason"].startswith("HTTP 400") and k["id"] for k in kept)
    again = _Refusing()
    _ship([log], again, tmp_path / "state")
    assert again.accepted == []


def test_one_shipper_per_destination_and_state(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    with open(state / "collector.lock", "a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        with pytest.raises(ShipError, match="another shipper"):
            _ship([tmp_path], Collector(), state)


def test_stdin_missing_and_remote_are_reported_not_shipped(tmp_path: Path) -> None:
    report = ship(["-", str(tmp_path / "gone.log")], Collector(), state_dir=tmp_path / "s")
    assert report.files["<stdin>"].state == "skipped"
    assert report.files[str(tmp_path / "gone.log")].state == "missing"


def test_first_line_incomplete_waits(tmp_path: Path) -> None:
    log = tmp_path / "nova-api.log"
    log.write_text("2026-11-25 16:00:00.000 1 INFO nova [-] still writi")
    report = _ship([log], Collector(), tmp_path / "state")
    assert report.files[str(log)].state == "waiting"


# -- follow mode ------------------------------------------------------------------------------


def _follow(paths: list[Path], dest: Any, state: Path, **options: Any) -> tuple[Any, Any]:
    stop = threading.Event()
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["report"] = _ship(
                paths, dest, state, follow=True, stop=stop, poll_interval=0.02,
                flush_interval=0.05, rescan_interval=0.05, rotate_wait=0.3, **options,
            )  # fmt: skip
        except Exception as exc:  # handed to the test thread
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()

    def finish() -> Any:
        stop.set()
        thread.join(30)
        if "error" in result:
            raise result["error"]
        return result["report"]

    return stop, finish


def _wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_follow_ships_new_lines_and_drains_a_rotated_file(tmp_path: Path) -> None:
    log = tmp_path / "nova-api.log"
    write_lines(log, range(10))
    dest = Collector()
    _, finish = _follow([tmp_path], dest, tmp_path / "state")
    _wait_for(lambda: len(dest.received) == 10)
    # the service still holds the old file open across the rename
    service = open(log, "a")  # noqa: SIM115
    service.write("".join(f"2026-11-25 16:01:{n:02d}.000 4242 INFO nova [-] line {n}\n"
                          for n in range(10, 13)))  # fmt: skip
    service.flush()
    os.rename(log, tmp_path / "nova-api.log.1")
    write_lines(log, range(20, 25))
    service.write("2026-11-25 16:01:59.000 4242 INFO nova [-] line 13\n")  # late write
    service.close()
    _wait_for(lambda: len(dest.received) >= 19)
    write_lines(log, range(25, 27))
    _wait_for(lambda: len(dest.received) >= 21)
    report = finish()
    numbers = _numbers(dest)
    assert sorted(numbers) == [*range(14), *range(20, 27)]
    assert len(dest.ids) == len(set(dest.ids))
    assert any("rotated" in e for e in report.files[str(log)].events)


def test_follow_copytruncate_ships_the_copy_rest_and_the_new_start(tmp_path: Path) -> None:
    log = tmp_path / "nova-api.log"
    write_lines(log, range(10))
    dest = Collector()
    _, finish = _follow([tmp_path], dest, tmp_path / "state")
    _wait_for(lambda: len(dest.received) == 10)
    with open(log, "a") as service:
        service.write("".join(f"2026-11-25 16:02:{n:02d}.000 4242 INFO nova [-] line {n}\n"
                              for n in range(10, 13)))  # fmt: skip
        shutil.copyfile(log, tmp_path / "nova-api.log.1")
        os.truncate(log, 0)
        service.write("2026-11-25 16:03:00.000 4242 INFO nova [-] line 20\n")
        service.write("2026-11-25 16:03:01.000 4242 INFO nova [-] line 21\n")
    _wait_for(lambda: len(dest.received) >= 15)
    time.sleep(0.2)
    finish()
    assert sorted(_numbers(dest)) == [*range(13), 20, 21]
    assert len(dest.ids) == len(set(dest.ids))


def test_follow_ships_the_last_record_of_a_quiet_file(tmp_path: Path) -> None:
    log = tmp_path / "nova-api.log"
    write_lines(log, [3])  # one traceback record: pending until the file goes quiet
    dest = Collector()
    _, finish = _follow([log], dest, tmp_path / "state")
    _wait_for(lambda: len(dest.received) == 1)
    finish()
    assert dest.received[0].record.traceback[-1] == "ValueError: bad 3"


class _Outage(Collector):
    """Unavailable for its first ``down`` calls."""

    def __init__(self, down: int) -> None:
        super().__init__()
        self.down = down

    def send(self, records: Any) -> None:
        self.calls += 1
        if self.calls <= self.down:
            raise DeliveryError("connection refused", retryable=True)
        self.received.extend(records)


def test_follow_waits_out_an_outage(tmp_path: Path) -> None:
    log = tmp_path / "nova-api.log"
    write_lines(log, range(30))
    dest = _Outage(down=4)
    _, finish = _follow([log], dest, tmp_path / "state", retry_pause=0.01)
    _wait_for(lambda: len(dest.received) == 30)
    report = finish()
    assert _numbers(dest) == list(range(30)) and report.error is None


# -- the testcloud's own logs ---------------------------------------------------------------


def _snapshot(logs: Path, into: Path) -> Path:
    """Copy the services' logs, each cut after its last complete line (they keep writing)."""
    into.mkdir()
    for path in logs.iterdir():
        if path.is_file() and path.suffix == ".log":
            data = path.read_bytes()
            (into / path.name).write_bytes(data[: data.rfind(b"\n") + 1])
    return into


@pytest.mark.testcloud
@pytest.mark.integration
def test_testcloud_logs_reach_opensearch_and_loki_once_with_their_request_ids(
    testcloud: Any,
    testcloud_scenario: Any,
    tmp_path: Path,
    opensearch: tuple[FakeOpenSearch, FakeServer],
    loki: tuple[FakeLoki, FakeServer],
) -> None:
    from stacktender.logs.sources import discover

    snapshot = _snapshot(testcloud.settings.logs, tmp_path / "logs")
    # what the logs commands read from the same files
    per_file = {s.name: sum(1 for _ in s.records()) for s in discover([str(snapshot)])}
    expected = sum(per_file.values())
    failed_boot = testcloud_scenario.failed_boot

    fake_os, os_server = opensearch
    with OpenSearchDestination(os_server.url, backoff=0.001) as dest:
        report = _ship([snapshot], dest, tmp_path / "state", batch_size=500)
        assert {path: f.sent for path, f in report.files.items()} == per_file
        assert report.sent == len(fake_os.docs) == expected > 1000
        assert _ship([snapshot], dest, tmp_path / "state").sent == 0
    docs = [d for d in fake_os.docs.values() if d.get("global_request_id") == failed_boot]
    assert {"nova-api", "nova-conductor"} <= {d["service"] for d in docs}
    assert any("NoValidHost" in d.get("traceback", "") for d in docs if d["level"] == "ERROR")

    fake_loki, loki_server = loki
    with LokiDestination(loki_server.url, backoff=0.001) as dest:
        assert _ship([snapshot], dest, tmp_path / "state", batch_size=500).sent == expected
    assert {name for labels in fake_loki.streams for name, _ in labels} <= {
        "host", "service", "level"
    }  # fmt: skip
    traced = [v for v in fake_loki.entries() if len(v) == 3
              and v[2].get("global_request_id") == failed_boot]  # fmt: skip
    assert len(traced) == len(docs)


# -- exactly once, whatever happens in between ------------------------------------------------

_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.integers(1, 30)),
        st.tuples(st.just("partial"), st.just(0)),
        st.tuples(st.just("rotate"), st.just(0)),
        st.tuples(st.just("compress"), st.just(0)),
        st.tuples(st.just("copytruncate"), st.just(0)),
        st.tuples(st.just("ship"), st.integers(1, 12)),
        st.tuples(st.just("crash"), st.integers(0, 40)),
    ),
    max_size=25,
)


@settings(max_examples=80, deadline=None)
@given(ops=_OPS, batch=st.integers(1, 9), live_only=st.booleans())
def test_any_sequence_of_writes_rotations_and_crashes_delivers_each_record_once(
    ops: list[tuple[str, int]], batch: int, live_only: bool
) -> None:
    """Ship the directory, or only the live file's name: then a rotated file is found
    beside it, as long as a run saw it before it was rotated (copytruncate copies
    are only found when the directory is shipped)."""
    with tempfile.TemporaryDirectory() as folder:
        logs = Path(folder, "logs")
        logs.mkdir()
        live = logs / "nova-api.log"
        live.touch()
        state = Path(folder, "state")
        written = 0
        half: str | None = None  # a record written up to the middle of its line
        rotations = 0
        acked: list[ShipRecord] = []
        in_flight: dict[int, str] = {}  # number -> id, sent by a crashed batch

        seen = False  # whether a run saw the live file with a complete first line

        def run(dest: Collector, size: int) -> None:
            nonlocal seen
            seen = seen or b"\n" in live.read_bytes()
            try:
                _ship([live] if live_only else [logs], dest, state, batch_size=size)
            except DeliveryError:
                done = len(dest.received) - dest.unacknowledged
                kept = dest.received[done:]
                in_flight.update((int(r.record.message.split()[-1]), r.id) for r in kept)
                acked.extend(dest.received[:done])
            else:
                acked.extend(dest.received)

        def complete_half() -> None:
            nonlocal half
            if half is not None:
                with open(live, "a") as out:
                    out.write(half)
                half = None

        for op, arg in ops:
            if op == "write":
                complete_half()
                write_lines(live, range(written, written + arg))
                written += arg
            elif op == "partial" and half is None:
                line = oslo_line(written)
                with open(live, "a") as out:
                    out.write(line[:30])
                half, written = line[30:], written + 1
            elif op in ("rotate", "compress", "copytruncate"):
                complete_half()
                if live_only:
                    if op == "copytruncate":
                        continue
                    if not seen:
                        run(Collector(), batch)
                seen = False
                rotations += 1
                rotated = logs / f"nova-api.log.{rotations}"
                if op == "copytruncate":
                    shutil.copyfile(live, rotated)
                    os.truncate(live, 0)
                else:
                    live.rename(rotated)
                    live.touch()
                if op == "compress":
                    Path(f"{rotated}.gz").write_bytes(gzip.compress(rotated.read_bytes()))
                    rotated.unlink()
            elif op == "ship":
                run(Collector(), arg)
            elif op == "crash":
                run(Collector(fail_after=arg, keep_partial=arg % 3), batch)
        complete_half()
        run(Collector(), batch)

        numbers = Counter(int(r.record.message.split()[-1]) for r in acked)
        assert numbers == Counter(range(written)), "each record acknowledged exactly once"
        by_number = {int(r.record.message.split()[-1]): r.id for r in acked}
        for number, first_id in in_flight.items():
            assert by_number[number] == first_id, "a replayed record keeps its id"
