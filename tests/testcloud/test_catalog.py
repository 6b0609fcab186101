"""clouds.yaml entries: written beside the cloud and merged into the user's file."""

from __future__ import annotations

from pathlib import Path

import yaml

from stacktender.testcloud.catalog import (
    cloud_entries,
    remove_clouds_yaml_entries,
    user_clouds_yaml,
    write_clouds_yaml,
)
from stacktender.testcloud.config import Settings


def settings_in(tmp_path: Path) -> Settings:
    settings = Settings(state_dir=tmp_path / "state", port_base=27000)
    settings.ensure_passwords()
    return settings


def test_entries_for_admin_and_demo(tmp_path: Path) -> None:
    entries = cloud_entries(settings_in(tmp_path))
    assert set(entries) == {"testcloud-admin", "testcloud-demo"}
    admin = entries["testcloud-admin"]["auth"]
    assert admin["auth_url"] == "http://127.0.0.1:27000/v3"
    assert admin["project_name"] == "admin"
    assert entries["testcloud-demo"]["auth"]["username"] == "demo"


def test_merge_keeps_other_clouds_and_remove_takes_only_ours(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    user_file = tmp_path / "clouds.yaml"
    user_file.write_text(yaml.safe_dump({"clouds": {"prod": {"auth": {"auth_url": "x"}}}}))
    written = write_clouds_yaml(settings, user_file)
    assert written == [settings.clouds_yaml, user_file]
    merged = yaml.safe_load(user_file.read_text())["clouds"]
    assert set(merged) == {"prod", "testcloud-admin", "testcloud-demo"}
    assert set(yaml.safe_load(settings.clouds_yaml.read_text())["clouds"]) == {
        "testcloud-admin",
        "testcloud-demo",
    }
    assert user_file.stat().st_mode & 0o777 == 0o600
    remove_clouds_yaml_entries(settings, user_file)
    assert set(yaml.safe_load(user_file.read_text())["clouds"]) == {"prod"}


def test_user_clouds_yaml_follows_xdg_config_home(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert user_clouds_yaml() == tmp_path / "openstack" / "clouds.yaml"
