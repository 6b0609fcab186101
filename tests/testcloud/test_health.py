"""What counts as registered and up (hand-built service lists)."""

from __future__ import annotations

from pathlib import Path

from stacktender.testcloud.config import Settings
from stacktender.testcloud.health import RegisteredState


def test_missing_lists_every_absent_or_down_registration(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, compute_hosts=2)
    state = RegisteredState(
        nova={
            ("nova-conductor", "tc-controller"): "up",
            ("nova-scheduler", "tc-controller"): "up",
            ("nova-compute", "tc-compute-1"): "up",
            ("nova-compute", "tc-compute-2"): "down",
        },
        cinder={("cinder-scheduler", "tc-controller"): "up"},
        agents={"tc-compute-1": True, "tc-compute-2": False},
        mapped_hosts={"tc-compute-1"},
    )
    assert state.missing(settings) == [
        "nova-compute@tc-compute-2",
        "cinder-volume@*",
        "neutron-openvswitch-agent@tc-compute-2",
        "cell mapping@tc-compute-2",
    ]
    state.nova[("nova-compute", "tc-compute-2")] = "up"
    state.cinder[("cinder-volume", "tc-volume@fake")] = "up"
    state.agents["tc-compute-2"] = True
    state.mapped_hosts.add("tc-compute-2")
    assert state.missing(settings) == []
