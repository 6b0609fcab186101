"""The plan: waves from the types' graph, filters and what they imply, safety rules,
rendering. Logic only: the fake cloud stands in for the APIs (see conftest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from purge_fakes import FakeCloud, fake_types

from stacktender.purge.discover import Filters, check_allowed, discover, resource_types
from stacktender.purge.model import ProjectRefused, PurgeError, ResourceType, parse_time
from stacktender.purge.plan import Project, type_waves


def _noop(*_: object) -> None:
    return None


def test_waves_follow_the_after_graph() -> None:
    def rt(name: str, *after: str) -> ResourceType:
        return ResourceType(name, "x", lambda c, p: [], _noop, after=after)

    waves = type_waves([rt("a"), rt("b", "a"), rt("c", "a", "b"), rt("d", "unknown")])
    assert waves == {"a": 0, "b": 1, "c": 2, "d": 0}
    with pytest.raises(PurgeError, match=r"depend on each other: .*a -> b -> a"):
        type_waves([rt("a", "b"), rt("b", "a")])


def test_builtin_types_cover_the_issue_and_keep_the_required_order() -> None:
    types = resource_types()
    assert {
        "server", "server_group", "backup", "snapshot", "volume", "image", "image_member",
        "floating_ip", "router_gateway", "router_interface", "router", "port",
        "unattached_port", "subnet", "network", "security_group", "trunk", "container",
        "load_balancer", "stack",
    } <= set(types)  # fmt: skip
    waves = type_waves(types.values())
    before = [
        ("backup", "snapshot"), ("snapshot", "volume"), ("server", "volume"),
        ("floating_ip", "router_gateway"), ("router_gateway", "router"),
        ("router_interface", "router"), ("router_interface", "subnet"), ("server", "port"),
        ("port", "subnet"), ("unattached_port", "subnet"), ("subnet", "network"),
        ("trunk", "port"), ("stack", "server"), ("server", "security_group"),
    ]  # fmt: skip
    for first, then in before:
        assert waves[first] < waves[then], (first, then)


def test_plan_lists_only_the_target_and_skips_services_not_in_the_catalog(
    fake_cloud: FakeCloud,
) -> None:
    fake_cloud.add("server", "s1")
    fake_cloud.add("port", "p1")
    fake_cloud.add("port", "other-port", project="p2", name="p1")  # same name, other project
    fake_cloud.add("lb", "lb1")
    plan = discover(fake_cloud, [Project("p1")], fake_types(fake_cloud))
    assert sorted(i.id for i in plan.items) == ["p1", "s1"]
    assert plan.skipped == {"lb": "no load-balancer service in the catalog"}
    assert [[i.id for i in wave] for wave in plan.waves()] == [["s1"], ["p1"]]
    tree = plan.tree()
    assert "skipped: lb: no load-balancer service in the catalog" in tree
    assert tree.splitlines()[-1] == "2 resources in 2 waves"


def test_exclusions_carry_over_to_parts_and_dependents(fake_cloud: FakeCloud) -> None:
    old = datetime(2026, 1, 1, tzinfo=UTC)
    fake_cloud.add("server", "s1", name="keep-me", created_at=old)
    fake_cloud.add("port", "p1", name="port-1", needs=("s1",), created_at=old)
    fake_cloud.add("port", "p2", name="port-2", parent="s1", created_at=old)
    fake_cloud.add("port", "p3", name="port-3", created_at=old)
    fake_cloud.add("network", "n1", name="net", created_at=old + timedelta(days=30))
    fake_cloud.add("network", "n2", name="net-unknown-time")
    types = fake_types(fake_cloud)
    filters = Filters(exclude=("keep-*",), created_before=old + timedelta(days=1))
    plan = discover(fake_cloud, [Project("p1")], types, filters)
    assert [i.id for i in plan.items] == ["p3"]
    why = {i.id: reason for i, reason in plan.kept}
    assert why["s1"] == "--exclude keep-*"
    assert why["p1"] == "needs kept s1 gone first"
    assert why["p2"] == "part of kept s1"
    assert why["n1"].endswith("(--created-before)")
    assert why["n2"] == "creation time unknown (--created-before)"
    only_ports = discover(fake_cloud, [Project("p1")], types, Filters(types=("port",)))
    assert {i.type for i in only_ports.items} == {"port"}
    with pytest.raises(PurgeError, match=r"unknown resource type.*bogus"):
        discover(fake_cloud, [Project("p1")], types, Filters(types=("bogus",)))


def test_rows_and_json_name_every_resource_with_its_wave(fake_cloud: FakeCloud) -> None:
    fake_cloud.add("server", "s1", detail="ACTIVE")
    fake_cloud.add("network", "n1")
    plan = discover(fake_cloud, [Project("p1", "team")], fake_types(fake_cloud))
    rows = plan.rows()
    assert [(r["wave"], r["type"], r["id"]) for r in rows] == [
        (1, "server", "s1"),
        (2, "network", "n1"),
    ]
    data = plan.as_dict()
    assert data["counts"] == {"server": 1, "network": 1}
    assert data["projects"][0]["label"] == "team (p1, disabled)"


@pytest.mark.parametrize(
    ("project", "force", "message"),
    [
        (Project("a1", "admin"), True, "protected, never purged"),
        (Project("s1", "service"), True, "protected, never purged"),
        (Project("admin-id", "mine"), True, "the project these credentials are scoped to"),
        (Project("e1", "team", enabled=True), False, "it is enabled"),
    ],
)
def test_safety_rules_refuse(project: Project, force: bool, message: str) -> None:
    with pytest.raises(ProjectRefused, match=message):
        check_allowed(FakeCloud(), project, force=force)


def test_safety_rules_allow_disabled_vanished_and_forced_enabled_projects() -> None:
    check_allowed(FakeCloud(), Project("d1", "team", enabled=False), force=False)
    check_allowed(FakeCloud(), Project("gone", exists=False), force=False)
    check_allowed(FakeCloud(), Project("e1", "team", enabled=True), force=True)


def test_api_times_parse_to_aware_utc() -> None:
    assert parse_time("2026-11-25T19:21:20Z") == datetime(2026, 11, 25, 19, 21, 20, tzinfo=UTC)
    assert parse_time("2026-11-25T19:21:20.000000") == datetime(
        2026, 11, 25, 19, 21, 20, tzinfo=UTC
    )
    assert parse_time(None) is None
    assert parse_time("yesterday") is None


def test_a_type_that_cannot_be_listed_makes_the_plan_and_its_run_incomplete(
    fake_cloud: FakeCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from purge_fakes import http_error

    from stacktender.purge import discover as discover_module
    from stacktender.purge.execute import execute

    monkeypatch.setattr(discover_module, "LIST_BACKOFF", 0.0)
    fake_cloud.add("server", "s1")
    fake_cloud.add("port", "p1")
    calls = {"port": 0, "network": 0}

    def flaky(conn: object, project_id: str | None) -> list[object]:
        calls["port"] += 1
        if calls["port"] == 1:
            raise http_error(503)  # once: listed on the next attempt
        return [fake_cloud.resources["p1"]]

    def down(conn: object, project_id: str | None) -> list[object]:
        calls["network"] += 1
        raise http_error(503)

    types = fake_types(fake_cloud)
    types["port"] = replace(types["port"], list=flaky)
    types["network"] = replace(types["network"], list=down)
    plan = discover(fake_cloud, [Project("p1")], types)
    assert sorted(i.id for i in plan.items) == ["p1", "s1"]
    assert calls == {"port": 2, "network": 4}
    assert list(plan.unlisted) == ["network"] and "503" in plan.unlisted["network"]
    assert "NOT LISTED: network: listing failed" in plan.tree()
    report = execute(fake_cloud, plan)
    assert report.count("deleted") == 2
    assert report.status == "failed"
    assert "1 type(s) not listed: network" in report.summary()
