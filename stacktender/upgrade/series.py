"""OpenStack release series, the package versions that belong to them, and which jumps
are allowed (one series at a time, or SLURP to SLURP: 2024.1 -> 2025.1).

Every project bumps its major version once per series, so a series is a fixed
offset from each project's major version: nova 27 was 2023.1, nova 34 is 2026.2.
"""

from __future__ import annotations

from dataclasses import dataclass

from stacktender.errors import ConfigError

# In order. The name is the release's code name, for people who still say "Epoxy".
SERIES: tuple[tuple[str, str], ...] = (
    ("2023.1", "antelope"),
    ("2023.2", "bobcat"),
    ("2024.1", "caracal"),
    ("2024.2", "dalmatian"),
    ("2025.1", "epoxy"),
    ("2025.2", "flamingo"),
    ("2026.1", "gazpacho"),
    ("2026.2", "hibiscus"),
)
# package -> its major version in 2023.1
FIRST_MAJOR: dict[str, int] = {
    "keystone": 23,
    "glance": 26,
    "openstack-placement": 9,
    "cinder": 22,
    "nova": 27,
    "neutron": 22,
}


@dataclass(frozen=True, order=True)
class Series:
    """One release series, e.g. ``2025.1`` (epoxy)."""

    index: int
    id: str
    name: str

    @property
    def slurp(self) -> bool:
        """Skip-level upgrade release point: every ``.1`` since 2023.1."""
        return self.id.endswith(".1")

    def major(self, package: str) -> int:
        return FIRST_MAJOR[package] + self.index

    def __str__(self) -> str:
        return f"{self.id} ({self.name})"


def all_series() -> list[Series]:
    return [Series(i, sid, name) for i, (sid, name) in enumerate(SERIES)]


def series(text: str) -> Series:
    """``2025.1`` or ``epoxy`` -> Series; a clear error otherwise."""
    wanted = text.strip().lower()
    for item in all_series():
        if wanted in (item.id, item.name):
            return item
    known = ", ".join(f"{s.id} ({s.name})" for s in all_series())
    raise ConfigError(f"unknown release series {text!r}: known are {known}")


def series_of(package: str, version: str) -> Series | None:
    """The series a package version belongs to (``nova``, ``34.0.0`` -> 2026.2)."""
    if package not in FIRST_MAJOR:
        return None
    try:
        major = int(version.split(".", 1)[0])
    except ValueError:
        return None
    index = major - FIRST_MAJOR[package]
    found = [s for s in all_series() if s.index == index]
    return found[0] if found else None


def path(current: Series, target: Series) -> list[Series]:
    """The series to pass through, ending at ``target``: SLURP to SLURP skips the
    non-SLURP release between them, everything else goes one series at a time."""
    if target <= current:
        raise ConfigError(
            f"{target} is not after {current}: downgrades are restores from backup, not plans"
        )
    steps: list[Series] = []
    at = current
    ordered = all_series()
    while at != target:
        skip = ordered[at.index + 2] if at.index + 2 < len(ordered) else None
        if at.slurp and skip is not None and skip.slurp and skip <= target:
            at = skip
        else:
            at = ordered[at.index + 1]
        steps.append(at)
    return steps
