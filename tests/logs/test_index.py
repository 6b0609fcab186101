"""The log index: what comes out of it is what parsing the files gives, for every filter;
re-indexing adds nothing twice; traces follow the chain; bad files are one-line errors."""

# ruff: noqa: E501 - log lines are as long as the services write them

from __future__ import annotations

import gzip
import os
import re
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stacktender.errors import ConfigError, StoreError
from stacktender.logs import index as index_module
from stacktender.logs.filters import LogFilter, parse_time
from stacktender.logs.index import (
    SCHEMA_VERSION,
    LogIndex,
    default_index_path,
    fts_query,
    longest_literal,
)
from stacktender.logs.merge import MergedLogs
from stacktender.logs.record import LogRecord
from stacktender.logs.sources import LogSource, discover
from stacktender.logs.trace import related_ids, trace

U1, P1 = "f1afe47d27a44617b05e63f1ea47d756", "dfc24c7039ca49efae14c7a47b6f1b3a"
U2, P2 = "0c9a1d1e2f3a4b5c6d7e8f9a0b1c2d3e", "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
G = "req-11111111-1111-4111-8111-111111111111"  # the client's global request id
A = "req-aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"  # nova-api's own
N = "req-bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"  # neutron's, under global A
Z = "req-cccccccc-cccc-4ccc-8ccc-cccccccccccc"  # unrelated
INSTANCE = "5de6d127-e107-438f-9154-9f12b8538b1d"

NOVA_API = f"""\
=== nova-api started, this line is in no known format ===
2026-11-25 16:20:30.100 7001 INFO nova.api.openstack.requestlog [{G} {A} {U1} {P1} - default default] 10.0.0.1 "POST /v2.1/servers" status: 202 len: 512
2026-11-25 16:20:30.200 7001 INFO nova.compute.api [None {A} {U1} {P1} - - default default] [instance: {INSTANCE}] Creating instance
2026-11-25 16:20:31.000 7001 WARNING nova.api.extensions [-] A multi-line warning
  that goes on here
2026-11-25 16:20:32.000 7001 ERROR nova.api.openstack.wsgi [None {Z} {U2} {P2} - - default default] Unexpected exception in API method: ValueError: boom
2026-11-25 16:20:32.000 7001 ERROR nova.api.openstack.wsgi Traceback (most recent call last):
2026-11-25 16:20:32.000 7001 ERROR nova.api.openstack.wsgi   File "/opt/nova/api.py", line 12, in create
2026-11-25 16:20:32.000 7001 ERROR nova.api.openstack.wsgi ValueError: boom
garbage after a record is its continuation \x01
2026-11-25 16:20:33.000 7001 DEBUG nova.utils [None {Z} - - - - - -] raw traceback follows
Traceback (most recent call last):
  File "/opt/nova/utils.py", line 2, in g
KeyError: 'naïve café'
2026-11-25 16:20:33.000 7001 INFO nova.utils [None {Z} - - - - - -] same second: a tie
2026-11-25 16:20:34.250 7001 CRITICAL nova [-] café au lait, naïve résumé
"""
NEUTRON = f"""\
2026-11-25 16:20:30.150 8001 INFO neutron.wsgi [{A} {N} {U1} {P1} - - -] 10.0.0.2 "POST /v2.0/ports HTTP/1.1" status: 201
2026-11-25 16:20:30.160 8001 DEBUG neutron.db.ports [None {N} {U1} {P1} - - -] port created
2026-11-25 16:20:33.000 8001 INFO neutron.agent [None {Z} - - - - -] unrelated status: 200
"""
GLANCE_JSON = (
    '{"message": "Image 7a3f created", "name": "glance.api.v2.images", "levelname": "INFO",'
    ' "created": 1795624830.25, "process": 9001, "hostname": "img-1",'
    f' "context": {{"request_id": "req-dddddddd-dddd-4ddd-8ddd-dddddddddddd",'
    f' "global_request_id": "{A}", "user_name": "{U1}", "project_name": "{P1}"}},'
    ' "extra": {"project": "glance"}}\n'
    '{"message": "Upload failed:\\nsecond line", "name": "glance.api", "levelname": "ERROR",'
    ' "created": 1795624831.5, "process": 9001, "traceback": ["Traceback (most recent call'
    ' last):", "  File \\"x.py\\"", "OSError: disk\\nfull"], "context": {}}\n'
)
SYSLOG = f"""\
Nov 25 16:20:34 cmp-1 nova-compute[4242]: 2026-11-25 16:20:34.500 4242 INFO nova.compute.manager [None {A} {U1} {P1} - - default default] [instance: {INSTANCE}] Took 1.00 seconds to spawn the instance
Nov 25 16:20:35 cmp-1 ovs-vswitchd[11]: bridge br-int: added interface tap0
"""
ROTATED_GZ = """\
2026-11-25 16:19:00.000 4242 INFO nova.compute.resource_tracker [None req-eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee - - - - - -] Final resource view
"""


def write_logs(root: Path) -> Path:
    """Hand-made files for two hosts, as ``ansible fetch`` lays them out."""
    (root / "ctl").mkdir(parents=True)
    (root / "net").mkdir()
    (root / "ctl" / "nova-api.log").write_text(NOVA_API)
    with open(root / "ctl" / "nova-api.log", "ab") as handle:
        handle.write(b"2026-11-25 16:20:34.300 7001 INFO nova.api [-] bad bytes \xff\xfe here\n")
    (root / "net" / "neutron-server.log").write_text(NEUTRON)
    (root / "ctl" / "glance-api.json").write_text(GLANCE_JSON)
    (root / "net" / "syslog.log").write_text(SYSLOG)
    (root / "net" / "nova-compute.log.1.gz").write_bytes(gzip.compress(ROTATED_GZ.encode()))
    return root


def key(record: LogRecord) -> tuple[float, str, int]:
    return (record.ts, record.source, record.lineno)


def from_files(root: Path, log_filter: LogFilter | None = None) -> list[LogRecord]:
    """What the files parse to, kept by ``log_filter`` record by record. (MergedLogs
    with a filter also skips whole sources by their label, which a syslog file's
    nova-compute lines do not carry: the index keeps those, as the filter says.)"""
    keep = log_filter or LogFilter()
    return sorted(filter(keep, MergedLogs(discover([str(root)], by_host=True))), key=key)


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    return write_logs(tmp_path / "logs")


@pytest.fixture
def index(tmp_path: Path, logs: Path) -> Iterator[LogIndex]:
    with LogIndex(tmp_path / "logs.db") as opened:
        report = opened.index_sources(discover([str(logs)], by_host=True))
        assert len(report.indexed) == 5 and not report.failed
        yield opened


@pytest.fixture(params=["sql-only", "fts"])
def fts_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run --grep through FTS5 even on a small index (it is skipped below 20000 rows)."""
    if request.param == "fts":
        monkeypatch.setattr(index_module, "FTS_WORTH_IT", 0)
    return str(request.param)


# -- round trip ---------------------------------------------------------------------------


def test_index_gives_back_exactly_what_the_files_parse_to(index: LogIndex, logs: Path) -> None:
    expected = from_files(logs)
    got = list(index.query())
    assert [r.ts for r in got] == sorted(r.ts for r in got)
    assert sorted(got, key=key) == expected
    assert len(expected) > 15
    # the edge cases really are in there
    assert any(r.traceback and r.fmt == "oslo" for r in got)
    assert any(r.traceback and r.fmt == "json" for r in got)
    assert any(not r.parsed for r in got)
    assert any(r.fmt == "syslog" for r in got)
    assert any("\ufffd" in r.message for r in got)
    assert any(r.source.endswith(".gz") for r in got)


def test_order_limit_and_reverse(index: LogIndex) -> None:
    everything = list(index.query())
    assert list(index.query(limit=3)) == everything[:3]
    newest = list(index.query(order="reverse", limit=2))
    assert [r.ts for r in newest] == sorted((r.ts for r in everything), reverse=True)[:2]
    assert sorted(index.query(order="none"), key=key) == sorted(everything, key=key)
    with pytest.raises(ConfigError, match="unknown order"):
        index.query(order="sideways")


def test_add_keeps_records_files_cannot_produce(tmp_path: Path) -> None:
    """Lines with newlines, no lines, a message that is not part of the text."""
    odd = [
        LogRecord(1.5, "h", "s", "INFO", lines=["a\nb", "c"], message="b", source="x"),
        LogRecord(2.0, "h", "s", "WARN", lines=[], message="nothing written", source="x"),
        LogRecord(2.0, "h", "s", "", lines=[""], message="", parsed=False, source="y"),
        LogRecord(3.0, "h2", "s2", "ERROR", pid=3, request_id="req-1", global_request_id="req-0",
                  user="u", project="p", instance="i", message="m\nn", lines=["x m", "n", "tb"],
                  traceback=["tb", "with\nnewline"], source="z", lineno=9, fmt="json"),
    ]  # fmt: skip
    with LogIndex(tmp_path / "x.db") as index:
        assert index.add(odd) == 4
        assert list(index.query()) == odd
        assert [s.name for s in index.sources()] == ["x", "y", "z"]


# -- filters ------------------------------------------------------------------------------

T = parse_time("2026-11-25T16:20:31")
FILTERS = [
    LogFilter(min_level="WARNING"),
    LogFilter(min_level="error"),
    LogFilter(min_level="TRACE"),
    LogFilter(services=("nova-*",)),
    LogFilter(services=("[!n]*",)),
    LogFilter(services=("glance-api", "neutron-server")),
    LogFilter(services=("nope-*",)),
    LogFilter(hosts=("net",)),
    LogFilter(hosts=("ct?", "n*")),
    LogFilter(since=T),
    LogFilter(until=T),
    LogFilter(since=T, until=T + 2.5),
    LogFilter(request_id=A),
    LogFilter(global_request_id=A),
    LogFilter(instance=INSTANCE),
    LogFilter(project=P1),
    LogFilter(user=U2),
    LogFilter(user="nobody"),
    LogFilter(regex="Creating instance"),
    LogFilter(regex=r"ValueError: \w+"),
    LogFilter(regex="(?i)TRACEBACK"),
    LogFilter(regex=r"\d{3}"),
    LogFilter(regex="café au"),
    LogFilter(regex="naïve"),
    LogFilter(regex="status: 20[12]|unrelated"),
    LogFilter(regex="^Nov 25"),
    LogFilter(regex=r"warning\n\s+that"),
    LogFilter(regex=r"(port|image)s? created"),
    LogFilter(regex="ort cr"),  # no whole word: no FTS term, every row goes through re
    LogFilter(min_level="INFO", services=("neutron-*",), regex="POST", since=T - 5),
    LogFilter(hosts=("ctl",), request_id=A, project=P1, user=U1, min_level="INFO"),
]


@pytest.mark.parametrize("log_filter", FILTERS, ids=repr)
def test_every_filter_keeps_what_it_keeps_on_files(
    index: LogIndex, logs: Path, log_filter: LogFilter, fts_mode: str
) -> None:
    expected = from_files(logs, log_filter)
    assert sorted(index.query(log_filter), key=key) == expected
    assert index.count(log_filter) == len(expected)


def test_filters_really_filter(index: LogIndex) -> None:
    """Guard against a vacuous comparison: each filter keeps some records, not all."""
    total = index.count()
    kept = {repr(f): index.count(f) for f in FILTERS}
    assert [f for f, n in kept.items() if not 0 < n < total] == [
        repr(LogFilter(min_level="TRACE")),
        repr(LogFilter(services=("nope-*",))),
        repr(LogFilter(user="nobody")),
    ]
    assert kept[repr(LogFilter(user="nobody"))] == 0


# -- regex -> FTS5 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "query"),
    [
        ("Claim successful on node", '"successful" AND "node"*'),
        ("Took 1.48 seconds", '"seconds"*'),
        (r"Took \d+\.\d+ seconds to spawn", '"seconds" AND "spawn"*'),
        ("(?i) error: disk", '"error" AND "disk"*'),
        ("abc", None),
        (r"\d+", None),
        ("x (foo|bar) ", '(("foo") OR ("bar"))'),
        ("x (foo|bar)", '(("foo"*) OR ("bar"*))'),
        ("x (foo|.) ", None),
        (r"x\s(?:neutron )+\b", '"neutron"'),
        ("x(?:neutron )+", None),
        ("x (?:neutron )*", None),
        ("^Nov 25 cmp", '"nov" AND "cmp"*'),
        (r"\bword\b", None),
        ("[:;]abc[ ,]", '"abc"'),
        ("[^ ]abc ", None),
        (" café bar", '"caf"* AND "bar"*'),
        ("ß abc", '"abc"*'),
        ("[", None),
    ],
)
def test_fts_query_uses_only_words_the_match_must_contain(pattern: str, query: str | None) -> None:
    assert fts_query(pattern) == query


@pytest.mark.parametrize(
    ("pattern", "literal"),
    [
        ("status: 5\\d\\d", "status: 5"),
        ("(?i)status: 5", None),
        ("(?i:status): 500 x", ": 500 x"),
        ("ab", None),
        ("(?:Took )+\\d+ seconds|x", None),
        ("(?:Took )+\\d+ seconds", " seconds"),
        ("a(bcd)?e", None),
    ],
)
def test_longest_literal_is_one_every_match_contains(pattern: str, literal: str | None) -> None:
    assert longest_literal(re.compile(pattern)) == literal


WORDS = st.text(alphabet="abcXYZ019 .:-_[]/éß", min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(WORDS, min_size=1, max_size=8), st.data())
def test_fts_query_never_misses_a_text_the_regex_matches(words: list[str], data: Any) -> None:
    text = " ".join(words)
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    literal = text[start:end]
    if data.draw(st.booleans()):
        literal = "".join(c.swapcase() if c.isascii() else c for c in literal)
        pattern = "(?i)" + re.escape(literal)
    else:
        pattern = re.escape(literal)
    assert re.search(pattern, text)
    literal = longest_literal(re.compile(pattern))
    assert literal is None or literal in text
    query = fts_query(pattern)
    if query is None:
        return
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(text, detail=none)")
    conn.execute("INSERT INTO t VALUES (?)", (text,))
    assert conn.execute("SELECT count(*) FROM t WHERE t MATCH ?", (query,)).fetchone()[0] == 1


# -- re-indexing --------------------------------------------------------------------------


def test_indexing_twice_adds_nothing(index: LogIndex, logs: Path) -> None:
    before = index.count()
    report = index.index_sources(discover([str(logs)], by_host=True))
    assert report.indexed == [] and len(report.skipped) == 5 and report.records == 0
    assert index.count() == before
    assert index.stats().sources == 5


def test_a_grown_file_is_indexed_again_without_duplicates(index: LogIndex, logs: Path) -> None:
    path = logs / "net" / "neutron-server.log"
    with open(path, "a") as handle:
        handle.write(
            f"2026-11-25 16:20:40.000 8001 INFO neutron.wsgi [None {N} {U1} {P1} - - -] later\n"
        )
    report = index.index_sources(discover([str(logs)], by_host=True))
    assert report.indexed == [str(path)]
    assert sorted(index.query(), key=key) == from_files(logs)
    assert index.count(LogFilter(regex="later")) == 1


def test_a_rotated_file_is_renamed_not_parsed_again(index: LogIndex, logs: Path) -> None:
    path = logs / "ctl" / "nova-api.log"
    old_records = index.count(LogFilter(services=("nova-api",)))
    os.rename(path, f"{path}.1")
    path.write_text(
        f"2026-11-25 16:21:00.000 7001 INFO nova.api [None {Z} - - - - - -] after rotation\n"
    )
    report = index.index_sources(discover([str(logs)], by_host=True))
    assert report.renamed == [(str(path), f"{path}.1")]
    assert report.indexed == [str(path)]
    assert sorted(index.query(), key=key) == from_files(logs)
    assert index.count(LogFilter(services=("nova-api",))) == old_records + 1


def test_the_same_file_under_another_spelling_is_not_indexed_twice(
    index: LogIndex, logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = index.count()
    monkeypatch.chdir(logs)
    report = index.index_sources(discover(["ctl/nova-api.log"], host="ctl"))
    assert report.renamed == [(str(logs / "ctl" / "nova-api.log"), "ctl/nova-api.log")]
    assert index.count() == before


def test_a_changed_host_label_replaces_the_records(index: LogIndex, logs: Path) -> None:
    report = index.index_sources(discover([str(logs / "net" / "neutron-server.log")], host="x"))
    assert len(report.indexed) == 1
    assert index.count(LogFilter(hosts=("x",))) == 3
    assert index.count(LogFilter(hosts=("net",), services=("neutron-*",))) == 0
    assert sorted(index.query(), key=key) != from_files(logs)  # now labelled differently


def test_a_vanished_file_keeps_what_was_indexed(index: LogIndex, logs: Path) -> None:
    path = logs / "net" / "neutron-server.log"
    before = index.count()
    path.unlink()
    report = index.index_sources(discover([str(path)], host="net"))
    assert report.indexed == [] and report.failed
    assert index.count() == before


def test_stdin_like_sources_replace_their_previous_records(tmp_path: Path) -> None:
    def source(text: str) -> LogSource:
        import io

        return LogSource("<stdin>", "h", "stdin", open=lambda: io.BytesIO(text.encode()))

    with LogIndex(tmp_path / "x.db") as index:
        index.index_sources([source(NEUTRON)])
        index.index_sources([source(NEUTRON)])
        assert index.count() == 3


def test_forget_and_listing(index: LogIndex, logs: Path) -> None:
    names = [s.name for s in index.sources()]
    assert names == sorted(str(p) for p in logs.rglob("*") if p.is_file())
    listed = {s.name: s for s in index.sources()}
    nova = listed[str(logs / "ctl" / "nova-api.log")]
    assert nova.complete and nova.host == "ctl" and nova.service == "nova-api"
    assert nova.unparsed == 1 and nova.decode_errors == 1 and nova.lines == 17
    assert index.forget([nova.name, "not-there"]) == 1
    assert index.count(LogFilter(services=("nova-api",))) == 0
    assert index.count(LogFilter(regex="boom")) == 0  # gone from FTS too


def test_stats(index: LogIndex, logs: Path) -> None:
    stats = index.stats()
    assert stats.schema_version == SCHEMA_VERSION and stats.fts
    assert stats.records == len(from_files(logs))
    assert stats.hosts == ["cmp-1", "ctl", "net"]  # syslog lines name their host
    assert "nova-api" in stats.services and "ovs-vswitchd" in stats.services
    assert stats.levels["ERROR"] == 2 and stats.levels["CRITICAL"] == 1
    assert stats.size_bytes > 0 and stats.as_dict()["path"] == str(index.path)


def test_default_path_is_under_the_data_directory(tmp_path: Path) -> None:
    assert default_index_path() == Path(os.environ["XDG_DATA_HOME"]) / "stacktender" / "logs.db"
    with LogIndex() as index:
        assert index.path.exists()


# -- trace --------------------------------------------------------------------------------


@pytest.mark.parametrize("ident", [G, A, N, INSTANCE, Z, "req-not-there"])
def test_trace_follows_the_chain_like_the_files_trace(
    index: LogIndex, logs: Path, ident: str
) -> None:
    def files() -> MergedLogs:
        return MergedLogs(discover([str(logs)], by_host=True))

    ids = index.related_ids(ident)
    assert ids == related_ids(files(), ident)
    got = index.trace_records(ident)
    if ident == "req-not-there":
        assert got == []
        return
    assert sorted(got, key=key) == sorted(trace(files, ident).records, key=key)
    assert [r.ts for r in got] == sorted(r.ts for r in got)


def test_trace_of_a_service_request_id_reaches_the_whole_chain(index: LogIndex) -> None:
    records = index.trace_records(N)  # neutron's own id
    assert {r.service for r in records} == {"nova-api", "neutron-server", "glance-api",
                                            "nova-compute"}  # fmt: skip
    assert index.related_ids(N) == {G, A, N, "req-dddddddd-dddd-4ddd-8ddd-dddddddddddd"}
    assert not any(r.request_id == Z for r in records)
    only_neutron = index.trace_records(N, LogFilter(services=("neutron-*",)))
    assert [r.request_id for r in only_neutron] == [N, N]


# -- bad index files ----------------------------------------------------------------------


def test_garbage_file_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "logs.db"
    path.write_bytes(os.urandom(8192))
    with pytest.raises(StoreError, match="not a stacktender log index or it is damaged"):
        LogIndex(path)


def test_foreign_sqlite_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE precious (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a stacktender log index"):
        LogIndex(path, rebuild=True)
    assert sqlite3.connect(path).execute("SELECT count(*) FROM precious").fetchone() == (0,)


def test_truncated_index_is_a_store_error(tmp_path: Path, logs: Path) -> None:
    path = tmp_path / "logs.db"
    with LogIndex(path) as index:
        for _ in range(40):
            index.add(list(MergedLogs(discover([str(logs)], by_host=True))))
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.truncate(size // 2)
    with pytest.raises(StoreError, match=re.escape(str(path))), LogIndex(path) as index:
        list(index.query())
        index.stats()


def test_other_schema_version_needs_a_rebuild(tmp_path: Path, logs: Path) -> None:
    path = tmp_path / "logs.db"
    with LogIndex(path) as index:
        index.index_sources(discover([str(logs)], by_host=True))
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}.*--rebuild"):
        LogIndex(path)
    with LogIndex(path, rebuild=True) as index:
        assert index.count() == 0
        index.index_sources(discover([str(logs)], by_host=True))
        assert index.count() == len(from_files(logs))


def test_missing_index_when_reading(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no log index at .*logs index"):
        LogIndex(tmp_path / "none.db", create=False)
    assert not (tmp_path / "none.db").exists()
    with pytest.raises(StoreError, match="is a directory"):
        LogIndex(tmp_path)


# -- the testcloud's real logs ------------------------------------------------------------


@pytest.mark.testcloud
def test_testcloud_logs_round_trip_and_trace(
    testcloud: Any, testcloud_scenario: Any, tmp_path: Path
) -> None:
    """Everything the testcloud's services wrote, indexed: the same records as the
    files, and the failed boot's and the server's traces the same as on the files."""
    # a snapshot, because the services keep writing while the test runs
    logs = str(shutil.copytree(testcloud.settings.logs, tmp_path / "logs"))

    def files() -> MergedLogs:
        return MergedLogs(discover([logs], host="testcloud"))

    with LogIndex(tmp_path / "logs.db") as index:
        report = index.index_sources(discover([logs], host="testcloud"))
        assert report.records > 1000 and not report.failed
        assert sorted(index.query(), key=key) == sorted(files(), key=key)
        for ident in (testcloud_scenario.failed_boot, testcloud_scenario.server):
            on_files = trace(files, ident)
            assert index.related_ids(ident) == on_files.ids
            assert sorted(index.trace_records(ident), key=key) == sorted(on_files.records, key=key)
        failed = index.trace_records(testcloud_scenario.failed_boot)
        assert {"nova-api", "nova-conductor"} <= {r.service for r in failed}
        assert any("No valid host" in r.text for r in failed)
        boot = LogFilter(services=("nova-*",), regex=r"Took \d+\.\d+ seconds to spawn")
        assert sorted(index.query(boot), key=key) == sorted(
            MergedLogs(discover([logs], host="testcloud"), boot), key=key
        )
