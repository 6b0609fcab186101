"""Masking and template mining, on hand-made messages and on messages the testcloud's
services wrote (labelled with the format string of their source)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from stacktender.logs.record import LogRecord
from stacktender.logs.templates import PLACEHOLDERS, Template, TemplateMiner, mask, mine

DATA = Path(__file__).parent / "data" / "templates"


@pytest.mark.parametrize(
    ("message", "masked"),
    [
        # UUIDs with and without dashes, request ids, UUIDs inside a word
        ("server 0b6bd93e-f071-4ab6-a978-59f575edfb97 up", "server <UUID> up"),
        ("user 95b567a9164649139eced4cbe84b0970 in", "user <UUID> in"),
        ("id E1891C69-F411-40A4-B1B6-A288016A1942.", "id <UUID>."),
        ("[req-aec3f3a8-8f3a-4c06-bcd1-89f1361b5650]", "[<REQ>]"),
        ("event network-vif-plugged-a172b4e9-295c-4912-842f-e01540a57dbb", "event <*>"),
        ("Volume volume-45c6f4ba-c0e8-4f68-b6f1-b6e06a382693 ok", "Volume <*> ok"),
        # IPv4 with port and prefix, IPv6 full, compressed, with prefix, bracketed with port
        ("from 127.0.0.1 to 203.0.113.180:8774", "from <IP> to <IP>"),
        ("cidr 10.30.0.0/24, gw 10.30.0.1.", "cidr <IP>, gw <IP>."),
        ("addr 2001:0db8:0000:0000:0000:ff00:0042:8329 up", "addr <IP> up"),
        ("addr fe80::f816:3eff:fe12:abcd/64 and ::1", "addr <IP> and <IP>"),
        ("listen [2001:db8::1]:9696", "listen <IP>"),
        ("mapped ::ffff:192.0.2.1 ok", "mapped <IP> ok"),
        # MACs
        ("port mac fa:16:3e:12:ab:cd bound", "port mac <MAC> bound"),
        ("mac FA-16-3E-12-AB-CD", "mac <MAC>"),
        # paths and URLs
        ("key /var/lib/keystone/fernet-keys/0.tmp made", "key <PATH> made"),
        (
            '127.0.0.1 "GET /v2.1/servers/detail?all_tenants=True" status',
            '<IP> "GET <PATH>" status',
        ),
        ('"GET /" status', '"GET <PATH>" status'),
        ('"GET /traits?name=in:HW_CPU_X86_AVX,COMPUTE_NODE" 200', '"GET <PATH>" <NUM>'),
        ("in /etc/nova/nova.conf, and (/var/log/nova).", "in <PATH>, and (<PATH>)."),
        ("see http://127.0.0.1:25005/v3/volumes?x=1 now", "see <URL> now"),
        ("at http://127.0.0.1:25005/v3.", "at <URL>."),
        ("rabbit://guest:guest@127.0.0.1:5672/", "<URL>"),
        # hex strings and ids
        ("message ID 538aa2a4b5 and 0x7f3a9c", "message ID <HEX> and <HEX>"),
        ("upgrade 921e1a36b076 -> c92a3e68beed, x", "upgrade <HEX> -> <HEX>, x"),
        # numbers, durations, sizes, versions, times
        ("took 0.123s and 12ms", "took <NUM> and <NUM>"),
        (
            "size 10GB, count 72, delta -1, ratio 1.5e-3",
            "size <NUM>, count <NUM>, delta <NUM>, ratio <NUM>",
        ),
        ("version 34.0.0.", "version <NUM>."),
        ("at 16:19:05 done", "at <NUM> done"),
        # words with digits: hosts, flavors, generated names
        ("host tc-compute-1 flavor m1.nano", "host <*> flavor <*>"),
        # Python reprs of lists and dicts, whatever their length
        ("drivers: ['flat', 'vlan', 'vxlan']", "drivers: <LIST>"),
        ("response: {'name': 'network-changed', 'code': 200}", "response: <DICT>"),
        ("empty [] and {}", "empty <LIST> and <DICT>"),
        # left alone: prose, a bracketed word, parentheses
        ("Loaded VIF plugins: noop, ovs", "Loaded VIF plugins: noop, ovs"),
        ("Starting conductor node (version <X>)", "Starting conductor node (version <X>)"),
        ("[Errno connection] refused", "[Errno connection] refused"),
        ("nova-conductor connection established", "nova-conductor connection established"),
    ],
)
def test_mask(message: str, masked: str) -> None:
    assert mask(message) == masked


def test_placeholders_are_documented_kinds() -> None:
    assert {"<UUID>", "<REQ>", "<IP>", "<MAC>", "<PATH>", "<URL>", "<HEX>", "<NUM>"} < PLACEHOLDERS
    assert "<*>" in PLACEHOLDERS


REQUESTLOG = [
    '127.0.0.1 "GET /v2.1/servers/detail?all_tenants=True" status: 200 len: 13035 '
    "microversion: 2.100 time: 0.169303",
    '127.0.0.1 "POST /v2.1/servers" status: 202 len: 470 microversion: 2.1 time: 0.71',
    '10.0.0.5 "DELETE /v2.1/servers/0b6bd93e-f071-4ab6-a978-59f575edfb97" status: 204 len: 0 '
    "microversion: 2.88 time: 0.052",
    '127.0.0.1 "GET /" status: 200 len: 371 microversion: - time: 0.003053',
]


def test_request_log_lines_are_one_template() -> None:
    templates = mine(REQUESTLOG)
    assert len(templates) == 1
    assert templates[0].count == 4
    assert templates[0].text == (
        '<IP> "<*> <PATH>" status: <NUM> len: <NUM> microversion: <*> time: <NUM>'
    )


def test_formats_differing_by_a_verb_stay_apart() -> None:
    messages = [
        "Took 1.48 seconds to spawn the instance on the hypervisor.",
        "Took 0.00 seconds to destroy the instance on the hypervisor.",
        "Took 1.66 seconds to spawn the instance on the hypervisor.",
        "Get all volumes completed successfully.",
        "Get all snapshots completed successfully.",
        "Nova service graceful shutdown started.",
        "Nova service graceful shutdown finished.",
    ]
    texts = {t.text: t.count for t in mine(messages)}
    assert texts == {
        "Took <NUM> seconds to spawn the instance on the hypervisor.": 2,
        "Took <NUM> seconds to destroy the instance on the hypervisor.": 1,
        "Get all volumes completed successfully.": 1,
        "Get all snapshots completed successfully.": 1,
        "Nova service graceful shutdown started.": 1,
        "Nova service graceful shutdown finished.": 1,
    }


def test_values_masking_missed_still_join() -> None:
    messages = [
        "Loading Plugin: router",
        "Loading Plugin: auto_allocate",
        "Created role reader",
        "Created role member",
        "Received unexpected event network-vif-plugged-a172b4e9-295c-4912-842f-e01540a57dbb "
        "for instance with vm_state active and task_state None.",
        "Received unexpected event network-vif-plugged-3bf460a4-49d2-4292-9b53-e1b7748c0711 "
        "for instance with vm_state building and task_state spawning.",
        "Extension data-plane-status not supported by any of loaded plugins",
        "Extension dns-integration not supported by any of loaded plugins",
        "Context impl MySQLImpl.",
        "Context impl PostgresqlImpl.",
        "Initializing driver for type 'flat'",
        "Initializing driver for type 'vxlan'",
    ]
    texts = {t.text: t.count for t in mine(messages)}
    assert texts == {
        "Loading Plugin: <*>": 2,
        "Created role <*>": 2,
        "Received unexpected event <*> for instance with vm_state <*> and task_state <*>.": 2,
        "Extension <*> not supported by any of loaded plugins": 2,
        "Context impl <*>.": 2,
        "Initializing driver for type '<*>'": 2,
    }


def test_variable_length_tail_after_a_colon_is_one_template() -> None:
    miner = TemplateMiner()
    first = miner.add("HTTP exception thrown: Flavor m1.nano could not be found.")
    miner.add("HTTP exception thrown: Flavor m1.tiny could not be found.")
    miner.add(
        "HTTP exception thrown: Quota exceeded for instances: Requested 1, but already used 10"
    )
    miner.add("HTTP exception thrown: Instance 0b6bd93e-f071-4ab6-a978-59f575edfb97 is locked")
    miner.add("Loaded extension: dns")
    (tail,) = [t for t in miner.templates() if t.text.startswith("HTTP")]
    assert tail.text == "HTTP exception thrown: <*>"
    assert tail.count == 4
    assert tail.example == "HTTP exception thrown: Flavor m1.nano could not be found."
    # the first template was absorbed: lookups now give the tail
    assert first is not tail
    assert miner.match("HTTP exception thrown: Flavor m1.nano could not be found.") is tail
    assert len(miner) == 2


def test_counts_times_levels_services_hosts_from_records() -> None:
    def record(ts: float, level: str, service: str, host: str, message: str) -> LogRecord:
        return LogRecord(ts=ts, host=host, service=service, level=level, message=message)

    records = [
        record(30.0, "INFO", "nova-compute", "c1", "Claim successful on node c1-node"),
        record(10.0, "INFO", "nova-compute", "c2", "Claim successful on node c2-node"),
        record(20.0, "WARNING", "nova-compute", "c2", "Claim successful on node c3-node"),
        record(15.0, "ERROR", "nova-api", "api1", "Unexpected exception in API method\nTraceback"),
        record(16.0, "ERROR", "nova-api", "api1", "Unexpected exception in API method"),
    ]
    templates = mine(records)
    assert [t.text for t in templates] == [
        "Claim successful on node <*>",
        "Unexpected exception in API method",
    ]
    claim, unexpected = templates
    assert (claim.count, claim.first_seen, claim.last_seen) == (3, 10.0, 30.0)
    assert claim.levels == {"INFO": 2, "WARNING": 1}
    assert claim.services == {"nova-compute": 3}
    assert claim.hosts == {"c1": 1, "c2": 2}
    assert claim.example == "Claim successful on node c1-node"
    # the first line only: the traceback is not part of the message's template
    assert unexpected.count == 2
    assert unexpected.example == "Unexpected exception in API method"
    assert unexpected.as_dict()["levels"] == {"ERROR": 2}


def test_ids_are_stable_hashes_of_the_text() -> None:
    a = mine(REQUESTLOG)
    b = mine(list(reversed(REQUESTLOG)))
    assert a[0].id == b[0].id
    assert len(a[0].id) == 12
    assert int(a[0].id, 16) >= 0
    assert mine(["Terminating instance"])[0].id != mine(["Terminating volume"])[0].id
    assert a[0].as_dict()["id"] == a[0].id


def test_sorted_by_count_then_text() -> None:
    messages = ["y happened"] * 2 + ["x happened"] * 2 + ["z occurred"] * 3
    assert [(t.text, t.count) for t in mine(messages)] == [
        ("z occurred", 3),
        ("x happened", 2),
        ("y happened", 2),
    ]


def test_texts_differing_only_in_hex_letters_share_the_first_template() -> None:
    """The documented price of the fast lookup: digits and a-f letters are not part of
    its key, so "a" and "b" read the same."""
    templates = mine(["a happened", "b happened"])
    assert [(t.text, t.count) for t in templates] == [("a happened", 2)]


def test_match_does_not_learn() -> None:
    miner = TemplateMiner()
    known = miner.add("Deleted allocations for instance 0b6bd93e-f071-4ab6-a978-59f575edfb97")
    other = "Deleted allocations for instance 11d3fd28-2f67-49cf-8486-55234b922ed9"
    assert miner.match(other) is known
    assert miner.match("Something never seen") is None
    assert len(miner) == 1
    assert known.count == 1


def test_counts_per_window_with_one_miner() -> None:
    before = ["Claim successful on node n1", "Claim successful on node n2", "Terminating instance"]
    after = ["Claim successful on node n3", "Instance spawned successfully."]
    miner = TemplateMiner()
    miner.add_messages(before + after)
    claim = miner.match("Claim successful on node n9")
    spawned = miner.match("Instance spawned successfully.")
    terminating = miner.match("Terminating instance")
    assert claim is not None and spawned is not None and terminating is not None
    assert miner.counts(before) == {claim.id: 2, terminating.id: 1}
    assert miner.counts(after) == {claim.id: 1, spawned.id: 1}
    assert miner.counts(["Never seen before at all"]) == {"": 1}
    assert claim.count == 3  # counting does not learn


def test_add_messages_counts_like_add() -> None:
    one, many = TemplateMiner(), TemplateMiner()
    for message in REQUESTLOG * 3:
        one.add(message)
    many.add_messages(REQUESTLOG * 3)
    assert [(t.text, t.count) for t in one.templates()] == [
        (t.text, t.count) for t in many.templates()
    ]


def test_forgetting_aliases_keeps_templates() -> None:
    miner = TemplateMiner(max_aliases=2)
    for i in range(50):
        miner.add(f"Claim successful on node node-x{i % 7}y")
        miner.add(f"Loading Plugin: plugin_{'abcxyz'[i % 6]}")
    assert sorted((t.text, t.count) for t in miner.templates()) == [
        ("Claim successful on node <*>", 50),
        ("Loading Plugin: <*>", 50),
    ]


def test_empty_input() -> None:
    assert mine([]) == []
    assert mine([""])[0].count == 1


def test_template_is_a_dataclass_with_the_documented_fields() -> None:
    (template,) = mine(["Claim successful on node n1"])
    assert isinstance(template, Template)
    assert set(template.as_dict()) == {
        "id", "template", "count", "first_seen", "last_seen", "example",
        "levels", "services", "hosts",
    }  # fmt: skip


def grouping_accuracy(truth: Sequence[str], predicted: Sequence[object]) -> float:
    """As in the loghub/Drain papers: a message is right when its predicted group holds
    exactly the messages of its true group."""
    true_groups: dict[str, set[int]] = {}
    pred_groups: dict[int, set[int]] = {}
    for i, (t, p) in enumerate(zip(truth, predicted, strict=True)):
        true_groups.setdefault(t, set()).add(i)
        pred_groups.setdefault(id(p), set()).add(i)
    right = sum(
        len(members)
        for members in true_groups.values()
        if pred_groups[id(predicted[next(iter(members))])] == members
    )
    return right / len(truth)


def test_labelled_testcloud_messages_group_by_format_string() -> None:
    """Real messages of the testcloud's services, each labelled with the format string
    that wrote it (bench/template_truth.py); a few per format string."""
    rows = [json.loads(line) for line in (DATA / "labelled.jsonl").read_text().splitlines()]
    assert len(rows) > 300
    miner = TemplateMiner()
    miner.add_messages(r["message"] for r in rows)
    predicted = [miner.match(r["message"]) for r in rows]
    assert grouping_accuracy([r["format"] for r in rows], predicted) >= 0.9


@pytest.mark.testcloud
def test_testcloud_logs_one_template_per_format(
    testcloud_scenario: object, testcloud: object
) -> None:
    """Mine every log the testcloud's services wrote: the request log lines of placement
    and nova-api (one format string each, many paths, methods and numbers) each give one
    template, and the glance-api JSON records sharing a ``msg`` share a template."""
    from stacktender.logs.sources import discover

    logs = testcloud.settings.logs  # type: ignore[attr-defined]
    records = [
        r
        for source in discover([str(logs)], host="testcloud")
        if not source.name.endswith(".console.log")
        for r in source.records()
        if r.parsed and r.message
    ]
    miner = TemplateMiner()
    found = [(r, miner.add_record(r)) for r in records]
    final = {id(t) for t in miner.templates()}
    assert len(miner) < len({r.message for r in records}) / 3
    for logger in ("placement.requestlog", "nova.api.openstack.requestlog"):
        lines = [r for r in records if r.logger == logger]
        assert len(lines) > 20, logger
        templates = {id(miner.match(r.message)) for r in lines}
        assert len(templates) == 1, logger
        assert templates <= final
    by_msg: dict[str, set[int]] = {}
    for record, _ in found:
        if record.fmt == "json":
            msg = json.loads(record.lines[0])["msg"]
            by_msg.setdefault(msg, set()).add(id(miner.match(record.message)))
    assert by_msg
    assert all(len(ids) == 1 for ids in by_msg.values())
    assert sum(t.count for t in miner.templates()) == len(records)
