"""Fixtures of the purge tests."""

from __future__ import annotations

from purge_fakes import fake_cloud

__all__ = ["fake_cloud"]
