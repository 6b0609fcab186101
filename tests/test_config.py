"""Configuration: defaults without a file, errors that name file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacktender.config import load_config, parse_config
from stacktender.errors import ConfigError


def test_no_file_means_defaults(tmp_path: Path) -> None:
    config = load_config()
    assert config.path is None and config.sweep is None and config.timeout == 10


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_env_var_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("timeout: 3\n")
    monkeypatch.setenv("STACKTENDER_CONFIG", str(path))
    assert load_config().timeout == 3


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("timeout: 3\ntargets:\n  rabbitmq: {url: [\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}:")
    assert "invalid YAML" in str(err.value)


def test_unknown_key_names_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("timeout: 3\n\ntragets: {}\n")
    with pytest.raises(ConfigError, match=rf"^{path}:3: unknown setting 'tragets'"):
        load_config(path)


def test_check_settings_errors_name_line(tmp_path: Path) -> None:
    text = "checks:\n  memcached:\n    warning: {connections: 50}\n    thresholds: 1\n"
    with pytest.raises(ConfigError, match=r"c.yaml:4: unknown key 'thresholds'"):
        parse_config(text, tmp_path / "c.yaml")


def test_sweep_entries(tmp_path: Path) -> None:
    text = """
targets:
  cache2: memcached://10.0.0.2:11211
sweep:
  - memcached
  - check: memcached
    name: cache-2
    target: cache2
    warning: {connections: 10}
"""
    config = parse_config(text, tmp_path / "c.yaml")
    assert config.targets["cache2"] == {"url": "memcached://10.0.0.2:11211"}
    assert [e.name for e in config.sweep or []] == ["memcached", "cache-2"]
    assert config.sweep and config.sweep[1].warning == {"connections": 10}


def test_sweep_entry_error_names_line(tmp_path: Path) -> None:
    text = "sweep:\n  - memcached\n  - check: memcached\n    colour: red\n"
    with pytest.raises(ConfigError, match=r"c.yaml:3: unknown key 'colour'"):
        parse_config(text, tmp_path / "c.yaml")


def test_bad_timeout(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"c.yaml:1: 'timeout' must be a positive number"):
        parse_config("timeout: -1\n", tmp_path / "c.yaml")


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_config("- a\n- b\n", tmp_path / "c.yaml")
