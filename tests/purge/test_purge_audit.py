"""The audit in the store: runs and actions on every backend, and how a run that died
(SIGKILL: still 'running', its process gone) is found and resumed by the next one."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stacktender.purge.audit import Ledger
from stacktender.purge.model import Found, PurgeError
from stacktender.store.db import Store

ITEM = Found("server", "compute", "s-1", "web-1", "p1")


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_runs_and_actions_are_recorded(store_url: str) -> None:
    with Store.open(store_url) as store:
        ledger = Ledger(store)
        run = ledger.start("project", "p1", "team-ü", {"types": ["server"]}, planned=2)
        assert run.resumes is None
        ledger.record(run.id, ITEM, "deleted")
        ledger.record(run.id, Found("port", "network", "x", "", "p1"), "failed", "HTTP 409")
        ledger.finish(run.id, "failed", deleted=1, failed=1)
        (row,) = ledger.runs("p1")
        assert row["status"] == "failed" and row["planned"] == 2 and row["failed"] == 1
        assert row["project_name"] == "team-ü" and row["finished_at"] is not None
        actions = ledger.actions(run.id)
        assert [(a["resource_id"], a["outcome"], a["error"]) for a in actions] == [
            ("s-1", "deleted", None),
            ("x", "failed", "HTTP 409"),
        ]
        assert ledger.actions(project_id="p1") == actions
        assert ledger.actions(project_id="other") == []


def test_a_killed_run_is_marked_interrupted_and_resumed(store_url: str) -> None:
    with Store.open(store_url) as store:
        ledger = Ledger(store)
        first = ledger.start("project", "p1", "team", {}, planned=5)
        ledger.record(first.id, ITEM, "deleted")
        # the process that ran it was SIGKILLed: same host, pid no longer alive
        from sqlalchemy import update

        from stacktender.purge.tables import PurgeRun

        with store.engine.begin() as connection:
            connection.execute(
                update(PurgeRun).where(PurgeRun.id == first.id).values(pid=_dead_pid())
            )
        other = ledger.start("project", "p2", "another", {}, planned=1)
        assert other.resumes is None  # another project's run is not this one's
        second = ledger.start("project", "p1", "team", {}, planned=4)
        assert second.resumes == first.id
        ledger.finish(second.id, "finished", deleted=4, failed=0)
        runs = {r["id"]: r for r in ledger.runs("p1")}
        assert runs[first.id]["status"] == "interrupted"
        assert runs[second.id]["status"] == "finished"
        assert runs[second.id]["resumes_id"] == first.id
        third = ledger.start("project", "p1", "team", {}, planned=0)
        assert third.resumes is None  # a finished run closes the story


def test_a_run_of_a_live_process_is_not_taken_over(store_url: str) -> None:
    with Store.open(store_url) as store:
        ledger = Ledger(store)
        live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            first = ledger.start("project", "p1", "team", {}, planned=5)
            from sqlalchemy import update

            from stacktender.purge.tables import PurgeRun

            with store.engine.begin() as connection:
                connection.execute(
                    update(PurgeRun).where(PurgeRun.id == first.id).values(pid=live.pid)
                )
            with pytest.raises(PurgeError, match=f"run {first.id} .* is purging team right now"):
                ledger.start("project", "p1", "team", {}, planned=5)
            assert [r["status"] for r in ledger.runs("p1")] == ["running"]
            ledger.start("project", "p2", "other", {}, planned=1)  # another project: fine
        finally:
            live.kill()
            live.wait()
