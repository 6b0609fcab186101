"""Release series: names, package versions, and the hops of an upgrade."""

from __future__ import annotations

import pytest

from stacktender.errors import ConfigError
from stacktender.upgrade.series import path, series, series_of


def test_series_by_id_or_name() -> None:
    assert series("2025.1") == series("Epoxy")
    assert series("2025.1").slurp and not series("2025.2").slurp
    with pytest.raises(ConfigError, match=r"unknown release series '2031\.7'"):
        series("2031.7")


@pytest.mark.parametrize(
    ("package", "version", "expected"),
    [
        # the testcloud's real packages from PyPI are all the same series
        ("nova", "34.0.0", "2026.2"),
        ("keystone", "30.0.0", "2026.2"),
        ("neutron", "29.0.0", "2026.2"),
        ("openstack-placement", "16.0.0", "2026.2"),
        ("glance", "33.0.0", "2026.2"),
        ("cinder", "29.0.0", "2026.2"),
        ("nova", "27.1.0", "2023.1"),
    ],
)
def test_series_of_package_versions(package: str, version: str, expected: str) -> None:
    found = series_of(package, version)
    assert found is not None and found.id == expected


def test_unknown_versions_have_no_series() -> None:
    assert series_of("nova", "12.0.0") is None
    assert series_of("horizon", "25.0.0") is None
    assert series_of("nova", "master") is None


def test_slurp_skips_one_release_and_others_go_one_by_one() -> None:
    assert [s.id for s in path(series("2024.1"), series("2025.1"))] == ["2025.1"]
    assert [s.id for s in path(series("2024.1"), series("2026.2"))] == [
        "2025.1",
        "2026.1",
        "2026.2",
    ]
    assert [s.id for s in path(series("2024.2"), series("2025.2"))] == ["2025.1", "2025.2"]
    with pytest.raises(ConfigError, match="downgrades"):
        path(series("2025.1"), series("2024.1"))
