"""Checkpoint store: atomic replacement, refusal of a damaged file, lookups, forgetting."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from stacktender.logs.ship import Checkpoint, CheckpointStore, ShipError


def test_round_trip_and_atomic_replace(tmp_path: Path) -> None:
    path = tmp_path / "state" / "dest.checkpoints.json"
    store = CheckpointStore(path)
    store.put(Checkpoint(1, 10, "h1", offset=100, lineno=3, tail="t", tail_len=20, path="/a"))
    store.put(Checkpoint(1, 11, "h2", offset=5, path="/b", compressed=True, done=True))
    store.save()
    before = path.stat().st_ino
    again = CheckpointStore(path)
    assert again.get(1, 10, "h1") == store.get(1, 10, "h1")
    assert again.get(1, 11, "h2").done  # type: ignore[union-attr]
    again.put(Checkpoint(1, 10, "h1", offset=200, path="/a"))
    again.save()
    # a new file renamed over the old one, no temporary left behind
    assert path.stat().st_ino != before
    assert os.listdir(path.parent) == [path.name]
    assert json.loads(path.read_text())["files"][0]["offset"] == 200


def test_damaged_file_is_refused_not_reset(tmp_path: Path) -> None:
    path = tmp_path / "dest.checkpoints.json"
    path.write_text('{"version": 1, "files": [{"dev": 1')
    with pytest.raises(ShipError, match="move it away"):
        CheckpointStore(path)


def test_lookups_and_forgetting(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "c.json")
    store.put(Checkpoint(1, 10, "same", "g1", "h", "a", offset=50, path="/l/a.log", seen=100.0))
    store.put(Checkpoint(1, 11, "same", "g2", "h", "a", offset=80, path="/l/a.log.1", seen=200.0))
    store.put(Checkpoint(1, 13, "same", "g3", "h", "b", offset=90, path="/l/b.log", seen=200.0))
    store.put(Checkpoint(1, 12, "other", "g4", "h", "a", path="/l/a.log", seen=300.0))
    # another service's file with the same first line is not the same content
    assert [cp.ino for cp in store.same_content("same", "h", "a")] == [11, 10]
    assert store.same_content("same", "other-host", "a") == []
    assert sorted(cp.ino for cp in store.named("/l/a.log")) == [10, 12]
    assert store.forget(older_than=250.0) == 3
    assert [cp.ino for cp in store] == [12]


def test_unknown_fields_from_a_newer_version_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    entry = {"dev": 1, "ino": 2, "head": "h", "offset": 9, "future": True}
    path.write_text(json.dumps({"version": 2, "files": [entry]}))
    assert CheckpointStore(path).get(1, 2, "h").offset == 9  # type: ignore[union-attr]
