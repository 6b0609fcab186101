"""Executing a plan: dependency order, concurrency, retries, asynchronous waits, 404 as
already gone, failures recorded. The fake cloud stands in for the APIs (see conftest);
tests/purge/test_purge_cloud.py runs the same code against the real testcloud."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import pytest
from purge_fakes import FakeCloud, fake_types, http_error

from stacktender.purge.discover import discover
from stacktender.purge.execute import Policy, execute
from stacktender.purge.model import Found, ResourceType, is_not_found, is_transient
from stacktender.purge.plan import Project

FAST = Policy(workers=4, retry_for=5, backoff=0.01, max_backoff=0.05, poll=0.01)


def _plan(cloud: FakeCloud) -> Any:
    return discover(cloud, [Project("p1")], fake_types(cloud))


def test_types_wait_for_the_types_they_depend_on(fake_cloud: FakeCloud) -> None:
    for i in range(3):
        fake_cloud.add("server", f"s{i}")
        fake_cloud.async_polls[f"s{i}"] = 3  # nova takes a while
    for i in range(10):
        fake_cloud.add("port", f"p{i}")
    fake_cloud.add("network", "n1")
    fake_cloud.add("group", "g1")
    report = execute(fake_cloud, _plan(fake_cloud), policy=FAST)
    assert report.status == "finished" and report.count("deleted") == 15
    assert fake_cloud.resources == {}
    servers_gone = max(fake_cloud.times[f"s{i}"] for i in range(3))
    ports = [fake_cloud.times[f"p{i}"] for i in range(10)]
    assert min(ports) > servers_gone
    assert fake_cloud.times["n1"] > max(ports)


def test_conflicts_are_retried_and_404_means_already_gone(fake_cloud: FakeCloud) -> None:
    fake_cloud.add("port", "busy")
    fake_cloud.conflicts["busy"] = 3
    vanished = Found("port", "network", "vanished", "vanished", "p1")
    plan = _plan(fake_cloud)
    plan.items.append(vanished)  # listed, then deleted by someone else before its turn
    report = execute(fake_cloud, plan, policy=FAST)
    outcomes = {o.item.id: o.outcome for o in report.outcomes}
    assert outcomes == {"busy": "deleted", "vanished": "gone"}
    assert report.status == "finished"


def test_an_api_error_while_waiting_is_looked_at_again(fake_cloud: FakeCloud) -> None:
    fake_cloud.add("server", "s1")
    fake_cloud.async_polls["s1"] = 2
    fake_cloud.poll_errors["s1"] = 3
    report = execute(fake_cloud, _plan(fake_cloud), policy=FAST)
    assert [o.outcome for o in report.outcomes] == ["deleted"]
    assert fake_cloud.poll_errors["s1"] == 0


def test_a_failure_is_recorded_and_the_rest_goes_on(fake_cloud: FakeCloud) -> None:
    fake_cloud.add("port", "bad")
    fake_cloud.add("port", "good")
    fake_cloud.broken.add("bad")
    fake_cloud.add("port", "stuck")
    fake_cloud.conflicts["stuck"] = 10**6  # a conflict that never clears
    report = execute(fake_cloud, _plan(fake_cloud), policy=Policy(retry_for=0.2, backoff=0.01))
    outcomes = {o.item.id: o for o in report.outcomes}
    assert outcomes["good"].outcome == "deleted"
    assert outcomes["bad"].outcome == "failed" and "fake 400" in outcomes["bad"].error
    assert outcomes["stuck"].outcome == "failed" and "fake 409" in outcomes["stuck"].error
    assert report.status == "failed"
    assert "2 failed" in report.summary()


def test_an_async_deletion_that_never_ends_times_out(fake_cloud: FakeCloud) -> None:
    fake_cloud.add("server", "s1")
    fake_cloud.async_polls["s1"] = 10**6
    types = fake_types(fake_cloud)
    types["server"] = ResourceType(
        "server", "compute", types["server"].list, types["server"].delete,
        types["server"].gone, wait_timeout=0.1,
    )  # fmt: skip
    plan = discover(fake_cloud, [Project("p1")], types)
    report = execute(fake_cloud, plan, policy=FAST)
    (outcome,) = report.outcomes
    assert outcome.outcome == "failed" and "still there after" in outcome.error


def test_deletions_in_one_type_run_concurrently(fake_cloud: FakeCloud) -> None:
    active, peak = 0, 0
    lock = threading.Lock()

    def slow_delete(conn: FakeCloud, item: Found) -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)
        with lock:
            active -= 1

    for i in range(12):
        fake_cloud.add("port", f"p{i}")
    types = fake_types(fake_cloud)
    types["port"] = ResourceType("port", "network", types["port"].list, slow_delete)
    plan = discover(fake_cloud, [Project("p1")], types)
    report = execute(fake_cloud, plan, policy=Policy(workers=6, per_service=6))
    assert report.count("deleted") == 12
    assert peak == 6


def test_requests_in_flight_to_one_service_are_capped(fake_cloud: FakeCloud) -> None:
    active: dict[str, int] = {}
    peak: dict[str, int] = {}
    lock = threading.Lock()

    def slow_delete(conn: FakeCloud, item: Found) -> None:
        with lock:
            active[item.service] = active.get(item.service, 0) + 1
            peak[item.service] = max(peak.get(item.service, 0), active[item.service])
        time.sleep(0.03)
        with lock:
            active[item.service] -= 1

    for i in range(12):
        fake_cloud.add("port", f"p{i}")
        fake_cloud.add("group", f"g{i}")
    types = fake_types(fake_cloud)
    for name in ("port", "group"):
        types[name] = ResourceType(name, types[name].service, types[name].list, slow_delete)
    plan = discover(fake_cloud, [Project("p1")], types)
    report = execute(fake_cloud, plan, policy=Policy(workers=12, per_service=3))
    assert report.count("deleted") == 24
    # each service at its cap, both at once: the pool's other slots stay free
    assert peak == {"network": 3, "compute": 3}


def _with_census(cloud: FakeCloud, census: Any, gone: Any = None) -> dict[str, ResourceType]:
    types = fake_types(cloud)
    server = types["server"]
    types["server"] = ResourceType(
        "server", "compute", server.list, server.delete, gone or server.gone, census=census
    )
    return types


def test_a_census_looks_at_every_awaited_resource_in_one_request(fake_cloud: FakeCloud) -> None:
    censuses: list[int] = []
    single_looks = 0

    def census(conn: FakeCloud, items: Any) -> dict[str, str]:
        censuses.append(len(items))
        states = {}
        with conn.lock:
            for item in items:
                left = conn.async_polls.get(item.id, 0)
                conn.async_polls[item.id] = left - 1
                states[item.id] = "gone" if left <= 0 else "present"
                if left <= 0:
                    conn.resources.pop(item.id, None)
        return states

    def gone(conn: FakeCloud, item: Found) -> bool:
        nonlocal single_looks
        single_looks += 1
        return True

    for i in range(20):
        fake_cloud.add("server", f"s{i}")
        fake_cloud.async_polls[f"s{i}"] = 3
    plan = discover(fake_cloud, [Project("p1")], _with_census(fake_cloud, census, gone))
    report = execute(fake_cloud, plan, policy=FAST)
    assert report.count("deleted") == 20 and fake_cloud.resources == {}
    assert single_looks == 0
    # a look per server per poll would be 80 requests; a census is one per poll
    assert sum(censuses) >= 20 and len(censuses) <= 12


def test_a_released_resource_lets_its_dependents_start_before_it_is_gone(
    fake_cloud: FakeCloud,
) -> None:
    looks = 0

    def census(conn: FakeCloud, items: Any) -> dict[str, str]:
        nonlocal looks
        looks += 1
        if looks < 6:
            return {i.id: "released" for i in items}  # nova's DELETED: ports already free
        conn.times["s1 gone"] = time.monotonic()
        conn.resources.pop("s1", None)
        return {i.id: "gone" for i in items}

    fake_cloud.add("server", "s1")
    fake_cloud.async_polls["s1"] = 1
    fake_cloud.add("port", "p1")
    plan = discover(fake_cloud, [Project("p1")], _with_census(fake_cloud, census))
    report = execute(fake_cloud, plan, policy=FAST)
    outcomes = {o.item.id: o.outcome for o in report.outcomes}
    assert outcomes == {"s1": "deleted", "p1": "deleted"}
    assert fake_cloud.times["p1"] < fake_cloud.times["s1 gone"]
    assert looks == 6  # a released server is still looked at until it is gone


def test_a_census_can_fail_one_resource_and_not_the_others(fake_cloud: FakeCloud) -> None:
    def census(conn: FakeCloud, items: Any) -> dict[str, Any]:
        failed = RuntimeError("went to error_deleting")
        return {i.id: failed if i.id == "s1" else "gone" for i in items}

    fake_cloud.add("server", "s1")
    fake_cloud.add("server", "s2")
    fake_cloud.async_polls.update(s1=1, s2=1)
    plan = discover(fake_cloud, [Project("p1")], _with_census(fake_cloud, census))
    report = execute(fake_cloud, plan, policy=FAST)
    outcomes = {o.item.id: (o.outcome, o.error) for o in report.outcomes}
    assert outcomes == {"s1": ("failed", "went to error_deleting"), "s2": ("deleted", "")}


def test_a_census_that_cannot_list_falls_back_to_a_look_at_each(fake_cloud: FakeCloud) -> None:
    calls = 0

    def census(conn: FakeCloud, items: Any) -> dict[str, str]:
        nonlocal calls
        calls += 1
        raise http_error(403)  # listing every project's servers is not allowed

    fake_cloud.add("server", "s1")
    fake_cloud.async_polls["s1"] = 2
    plan = discover(fake_cloud, [Project("p1")], _with_census(fake_cloud, census))
    report = execute(fake_cloud, plan, policy=FAST)
    assert [o.outcome for o in report.outcomes] == ["deleted"]
    assert calls == 1 and fake_cloud.resources == {}


def test_a_census_that_never_sees_the_end_times_out(fake_cloud: FakeCloud) -> None:
    fake_cloud.add("server", "s1")
    fake_cloud.async_polls["s1"] = 10**6
    types = fake_types(fake_cloud)
    server = types["server"]
    types["server"] = ResourceType(
        "server", "compute", server.list, server.delete, server.gone,
        census=lambda conn, items: {i.id: "released" for i in items}, wait_timeout=0.1,
    )  # fmt: skip
    report = execute(fake_cloud, discover(fake_cloud, [Project("p1")], types), policy=FAST)
    (outcome,) = report.outcomes
    assert outcome.outcome == "failed" and "still there after" in outcome.error


@pytest.mark.parametrize(
    ("code", "transient"), [(409, True), (500, True), (503, True), (400, False), (403, False)]
)
def test_http_errors_are_classified(code: int, transient: bool) -> None:
    assert is_transient(http_error(code)) is transient
    assert is_not_found(http_error(404))
    assert not is_not_found(http_error(code))


def test_a_bad_request_is_transient_only_where_the_type_says_so() -> None:
    assert is_transient(http_error(400), bad_request=True)
    import requests

    assert is_transient(requests.ConnectionError("reset by peer"))
    assert not is_transient(ValueError("bug"))


def test_every_outcome_is_in_the_audit_as_it_happens(fake_cloud: FakeCloud, tmp_path: Any) -> None:
    from stacktender.purge.audit import Ledger
    from stacktender.store.db import Store

    fake_cloud.add("server", "s1")
    fake_cloud.async_polls["s1"] = 2
    fake_cloud.add("port", "p1")
    fake_cloud.broken.add("p1")
    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        ledger = Ledger(store)
        report = execute(fake_cloud, _plan(fake_cloud), ledger=ledger, policy=FAST)
        per_resource: dict[str, list[str]] = {}
        for action in ledger.actions(report.run_id):
            per_resource.setdefault(action["resource_id"], []).append(action["outcome"])
        assert per_resource == {"s1": ["requested", "deleted"], "p1": ["requested", "failed"]}
        (run,) = ledger.runs("p1")
        assert (run["status"], run["planned"], run["deleted"], run["failed"]) == ("failed", 2, 1, 1)


def test_a_census_of_many_polls_as_seldom_as_it_looks_at_more(fake_cloud: FakeCloud) -> None:
    calls: list[float] = []

    def census(conn: FakeCloud, items: Any) -> dict[str, str]:
        calls.append(time.monotonic())
        done = len(calls) >= 4
        return {i.id: "gone" if done else "present" for i in items}

    for i in range(100):
        fake_cloud.add("server", f"s{i}")
        fake_cloud.async_polls[f"s{i}"] = 1
    plan = discover(fake_cloud, [Project("p1")], _with_census(fake_cloud, census))
    report = execute(fake_cloud, plan, policy=FAST)
    assert report.count("deleted") == 100
    # 100 awaited at a 0.01 s poll: a census looks at them about every 0.1 s, the load
    # of ten looks per poll, not every 0.01 s
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert len(calls) == 4 and min(gaps) >= 0.09
