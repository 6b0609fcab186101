"""The release and topology tables."""

from __future__ import annotations

from stacktender.testcloud.releases import (
    CATALOG,
    HOSTS_PER_COMPUTE_PROCESS,
    RELEASES,
    SETUP,
    compute_groups,
    services_for,
)


def test_one_compute_process_serves_up_to_ten_hosts() -> None:
    assert compute_groups(1) == [("nova-compute", ["tc-compute-1"])]
    groups = compute_groups(20)
    assert [name for name, _ in groups] == ["nova-compute-1", "nova-compute-2"]
    assert all(len(hosts) == HOSTS_PER_COMPUTE_PROCESS for _, hosts in groups)
    assert groups[1][1][-1] == "tc-compute-20"


def test_every_api_has_a_port_and_a_catalog_entry() -> None:
    services = services_for(3)
    apis = [s for s in services if s.kind == "wsgi"]
    assert {s.catalog for s in apis} == set(CATALOG)
    ports = [s.port_offset for s in apis]
    assert len(set(ports)) == len(ports)
    names = [s.name for s in services]
    assert names.index("nova-scheduler") < names.index("nova-compute")


def test_every_project_has_setup_and_every_release_pins_all_services() -> None:
    assert set(SETUP) == {"keystone", "placement", "glance", "neutron", "nova", "cinder"}
    for release in RELEASES.values():
        assert set(release.python_packages) == {
            "keystone",
            "openstack-placement",
            "nova",
            "glance",
            "neutron",
            "cinder",
        }
        assert all(release.python_packages.values())
