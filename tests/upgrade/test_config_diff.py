"""config-diff: the INI reader and fixer on their own (fast), then real releases from PyPI
(nova 31.0.0 -> 34.0.0, keystone 28.0.0 -> 30.0.0) on hand-made files holding options
their real metadata deprecates, renames, moves and drops, then the testcloud's own files."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import pytest

from stacktender.errors import ConfigError
from stacktender.testcloud import default_state_dir
from stacktender.upgrade.config_diff import (
    ConfigDiff,
    IniFile,
    config_diff,
    diff_options,
    fix_config,
    fixed_text,
)
from stacktender.upgrade.options import ReleaseOptions, load_options
from stacktender.upgrade.releases import ensure_release

# Resolved at import, before the suite isolates the environment of each test.
CACHE = Path(
    os.environ.get("STACKTENDER_RELEASE_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stacktender/releases"
)
TESTCLOUD_DIR = Path(os.environ.get("STACKTENDER_TESTCLOUD_DIR") or default_state_dir())


# --- the reader ------------------------------------------------------------------------

SAMPLE = """\
# top comment
[DEFAULT]
debug = true
; a semicolon comment
log_dir: /var/log/nova

[filter_scheduler]
enabled_filters = ComputeFilter,
    ImagePropertiesFilter
# trailing comment
[DEFAULT]
host=node1
"""


def test_reader_finds_options_and_keeps_every_byte() -> None:
    ini = IniFile.parse(SAMPLE, "nova.conf")
    assert ini.text() == SAMPLE
    got = [(o.section, o.key, o.value, o.lineno) for o in ini.options]
    assert got == [
        ("DEFAULT", "debug", "true", 3),
        ("DEFAULT", "log_dir", "/var/log/nova", 5),
        ("filter_scheduler", "enabled_filters", "ComputeFilter,\nImagePropertiesFilter", 8),
        ("DEFAULT", "host", "node1", 12),
    ]
    # the continuation line belongs to its option; repeated sections are both remembered
    assert (ini.options[2].start, ini.options[2].end) == (7, 9)
    assert len(ini.sections["DEFAULT"]) == 2


@pytest.mark.parametrize(
    ("text", "line", "why"),
    [
        ("debug = true\n", 1, "before the first [section]"),
        ("[DEFAULT]\n\njust words\n", 3, "not 'key = value'"),
        ("[DEFAULT\n", 1, "bad section header"),
        ("[DEFAULT]\n  indented = x\n", 2, "continues no option"),
        ("[DEFAULT]\n= value\n", 2, "option without a name"),
        ("[]\n", 1, "bad section header"),
    ],
)
def test_reader_names_file_and_line_of_invalid_input(text: str, line: int, why: str) -> None:
    with pytest.raises(ConfigError, match=rf"^bad\.conf:{line}: .*{re.escape(why)}"):
        IniFile.parse(text, "bad.conf")


def test_reader_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read .*missing\.conf"):
        IniFile.read(tmp_path / "missing.conf")
    with pytest.raises(ConfigError, match="cannot read"):
        IniFile.read(tmp_path)
    binary = tmp_path / "binary.conf"
    binary.write_bytes(b"[DEFAULT]\ndebug = true\nhost = \xff\xfe\n")
    with pytest.raises(ConfigError, match=r"binary\.conf:3: not UTF-8"):
        IniFile.read(binary)


# --- diff and fix on declared metadata -----------------------------------------------------


def _opt(group: str, name: str, default: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"group": group, "name": name, "type": "StrOpt", "default": default, **extra}


def _release(version: str, *opts: dict[str, Any]) -> ReleaseOptions:
    return ReleaseOptions.from_json({"package": "nova", "version": version, "options": opts})


OLD = _release(
    "1.0.0",
    _opt("DEFAULT", "debug", "false"),
    _opt("DEFAULT", "workers", "4"),  # dropped in 2.0.0
    _opt("DEFAULT", "timeout", "60"),  # default changes
    _opt(
        "api",
        "max_limit",
        "1000",
        deprecated_opts=[{"group": "DEFAULT", "name": "osapi_max_limit"}],
    ),
    _opt("DEFAULT", "pool", "10"),
)
NEW = _release(
    "2.0.0",
    _opt("DEFAULT", "debug", "false"),
    _opt("DEFAULT", "timeout", "30"),
    _opt("api", "max_limit", "1000"),  # the DEFAULT alias is gone
    _opt("DEFAULT", "pool_size", "10", deprecated_opts=[{"group": "DEFAULT", "name": "pool"}]),
    _opt(
        "image_cache",
        "manager_interval",
        "2400",
        deprecated_opts=[{"group": "DEFAULT", "name": "image_cache_manager_interval"}],
    ),
    _opt(
        "DEFAULT",
        "legacy",
        None,
        deprecated_for_removal=True,
        deprecated_since="2.0.0",
        deprecated_reason="Nobody uses it.",
    ),
    _opt("DEFAULT", "fresh", "yes", help="A new option."),
    _opt("shiny", "one", "1"),
    _opt("shiny", "two", "2"),
)
FILE = """\
# managed by hand
[DEFAULT]
debug = true
# four API workers
workers = 4
osapi_max_limit = 500
pool = 20
image_cache_manager_interval = 600
legacy = x
mystery = 1

[api]
# the API section
dhcp_domain = example.org
"""


def _diff(text: str = FILE) -> tuple[IniFile, ConfigDiff]:
    ini = IniFile.parse(text, "nova.conf")
    return ini, diff_options(ini, OLD, NEW)


def test_each_kind_of_finding() -> None:
    _, diff = _diff()
    got = {(f.kind, f.group, f.option): f for f in diff.findings}
    assert set(got) == {
        ("removed", "DEFAULT", "workers"),
        ("renamed", "DEFAULT", "osapi_max_limit"),
        ("renamed", "DEFAULT", "pool"),
        ("renamed", "DEFAULT", "image_cache_manager_interval"),
        ("deprecated", "DEFAULT", "legacy"),
        ("unknown", "DEFAULT", "mystery"),
        ("unknown", "api", "dhcp_domain"),
        ("default-changed", "DEFAULT", "timeout"),
        ("new", "DEFAULT", "fresh"),
        ("new", "shiny", "*"),
    }
    assert got["removed", "DEFAULT", "workers"].line == 5
    assert got["renamed", "DEFAULT", "osapi_max_limit"].replacement == "[api] max_limit"
    assert "no longer reads this name" in got["renamed", "DEFAULT", "osapi_max_limit"].detail
    assert got["renamed", "DEFAULT", "pool"].fix == "rename"
    assert "still read" in got["renamed", "DEFAULT", "pool"].detail
    assert got["renamed", "DEFAULT", "image_cache_manager_interval"].fix == "move"
    assert "since 2.0.0: Nobody uses it." in got["deprecated", "DEFAULT", "legacy"].detail
    changed = got["default-changed", "DEFAULT", "timeout"]
    assert (changed.installed_default, changed.target_default, changed.change) == (
        "60",
        "30",
        "60 -> 30",
    )
    assert "2 option(s): one, two" in got["new", "shiny", "*"].detail
    assert (diff.options_set, diff.unchanged) == (8, 1)
    assert [f.kind for f in diff.findings][:3] == ["removed", "renamed", "renamed"]


def test_fix_renames_moves_and_comments_out_keeping_the_rest() -> None:
    ini, diff = _diff()
    assert (
        fixed_text(ini, diff)
        == """\
# managed by hand
[DEFAULT]
debug = true
# four API workers
# stacktender: removed in nova 2.0.0, ignored there:
# workers = 4
# stacktender: [DEFAULT] osapi_max_limit moved to [api] max_limit in nova 2.0.0
# stacktender: was pool (renamed in nova 2.0.0)
pool_size = 20
# stacktender: [DEFAULT] image_cache_manager_interval moved to [image_cache] manager_interval \
in nova 2.0.0
legacy = x
mystery = 1

[api]
# the API section
dhcp_domain = example.org
# stacktender: was [DEFAULT] osapi_max_limit (moved in nova 2.0.0)
max_limit = 500

[image_cache]
# stacktender: was [DEFAULT] image_cache_manager_interval (moved in nova 2.0.0)
manager_interval = 600
"""
    )
    again = diff_options(IniFile.parse(fixed_text(ini, diff)), OLD, NEW)
    assert not [f for f in again.findings if f.kind in ("removed", "renamed")]


def test_fix_does_not_duplicate_an_option_the_file_sets_already() -> None:
    text = "[DEFAULT]\npool = 20\npool_size = 30\n"
    ini, diff = _diff(text)
    assert fixed_text(ini, diff) == (
        "[DEFAULT]\n"
        "# stacktender: [DEFAULT] pool is [DEFAULT] pool_size in nova 2.0.0, which this file "
        "sets already:\n"
        "# pool = 20\n"
        "pool_size = 30\n"
    )


def test_backend_sections_hold_their_template_groups_options() -> None:
    cinder = _release(
        "2.0.0",
        _opt("DEFAULT", "enabled_backends"),
        _opt("backend_defaults", "volume_driver"),
        _opt("backend_defaults", "volume_backend_name"),
        _opt(
            "backend_defaults",
            "san_ip",
            deprecated_opts=[{"group": "backend_defaults", "name": "old_ip"}],
        ),
    )
    text = (
        "[DEFAULT]\nenabled_backends = lvm, ceph\n[lvm]\nvolume_driver = x\nold_ip = 1\n"
        "[ceph]\nvolume_backend_name = c\nbogus = 1\n[other]\nvolume_driver = y\n"
    )
    ini = IniFile.parse(text, "cinder.conf")
    diff = diff_options(ini, cinder, cinder, new_options=False)
    got = {(f.kind, f.group, f.option): f for f in diff.findings}
    assert set(got) == {
        ("renamed", "lvm", "old_ip"),
        ("unknown", "ceph", "bogus"),
        ("unknown", "other", "volume_driver"),
    }
    # renamed inside its own backend section, not moved to [backend_defaults]
    assert got["renamed", "lvm", "old_ip"].replacement == "[lvm] san_ip"
    assert got["renamed", "lvm", "old_ip"].fix == "rename"
    assert (
        "section [other] is declared by neither" in got["unknown", "other", "volume_driver"].detail
    )


def test_fix_keeps_crlf_and_a_missing_final_newline() -> None:
    ini, diff = _diff("[DEFAULT]\r\nworkers = 4\r\ndebug = true")
    assert fixed_text(ini, diff) == (
        "[DEFAULT]\r\n# stacktender: removed in nova 2.0.0, ignored there:\r\n"
        "# workers = 4\r\ndebug = true"
    )


def test_fix_config_writes_output_or_in_place_with_a_backup(tmp_path: Path) -> None:
    conf = tmp_path / "nova.conf"
    conf.write_text(FILE)
    conf.chmod(0o640)
    ini, diff = _diff()
    ini.path = str(conf)
    out = fix_config(ini, diff, tmp_path / "new.conf")
    assert conf.read_text() == FILE and not (tmp_path / "nova.conf.orig").exists()
    assert "pool_size = 20" in out.read_text()
    fix_config(ini, diff)
    assert (tmp_path / "nova.conf.orig").read_text() == FILE
    assert "pool_size = 20" in conf.read_text()
    assert conf.stat().st_mode & 0o777 == 0o640


# --- real releases from PyPI ------------------------------------------------------------

NOVA_31 = """\
# nova.conf for 2025.1, as an operator would have it
[DEFAULT]
# API workers
osapi_compute_workers = 4
osapi_max_limit = 500
image_cache_manager_interval = 600
rpc_thread_pool_size = 32
vcpu_pin_set = 0-3
no_such_option = 1

[api]
dhcp_domain = example.org

[wsgi]
ssl_cert_file = /etc/nova/ssl/cert.pem

[keystone_authtoken]
auth_uri = http://keystone:5000/v3
auth_url = http://keystone:5000/v3
password = secret

[image_cache]
subdirectory_name = _base
"""


def _two_releases(package: str, old: str, new: str) -> tuple[ReleaseOptions, ReleaseOptions]:
    return (
        load_options(ensure_release(package, old, cache_dir=CACHE)),
        load_options(ensure_release(package, new, cache_dir=CACHE)),
    )


@pytest.mark.integration
def test_nova_31_to_34_on_a_hand_made_file() -> None:
    installed, target = _two_releases("nova", "31.0.0", "34.0.0")
    ini = IniFile.parse(NOVA_31, "nova.conf")
    diff = diff_options(ini, installed, target)
    got = {(f.kind, f.group, f.option): f for f in diff.findings if f.line}
    assert set(got) == {
        ("removed", "DEFAULT", "osapi_compute_workers"),
        ("removed", "wsgi", "ssl_cert_file"),
        ("removed", "keystone_authtoken", "auth_uri"),
        ("renamed", "DEFAULT", "osapi_max_limit"),
        ("renamed", "DEFAULT", "image_cache_manager_interval"),
        ("renamed", "DEFAULT", "rpc_thread_pool_size"),
        ("deprecated", "DEFAULT", "vcpu_pin_set"),
        ("unknown", "DEFAULT", "no_such_option"),
    }
    assert got["renamed", "DEFAULT", "osapi_max_limit"].replacement == "[api] max_limit"
    assert got["renamed", "DEFAULT", "image_cache_manager_interval"].replacement == (
        "[image_cache] manager_interval"
    )
    assert got["renamed", "DEFAULT", "rpc_thread_pool_size"].replacement == (
        "[DEFAULT] executor_thread_pool_size"
    )
    # [keystone_authtoken] auth_url and password come from the keystoneauth password plugin
    changed = {(f.group, f.option): f for f in diff.findings if f.kind == "default-changed"}
    assert changed["DEFAULT", "graceful_shutdown_timeout"].change == "60 -> 180"

    fixed = fixed_text(ini, diff)
    assert "# API workers\n# stacktender: removed in nova 34.0.0" in fixed
    assert "[image_cache]\nsubdirectory_name = _base\n# stacktender: was" in fixed
    assert "manager_interval = 600\n" in fixed and "executor_thread_pool_size = 32\n" in fixed
    again = diff_options(IniFile.parse(fixed), installed, target)
    assert {f.kind for f in again.findings if f.line} == {"deprecated", "unknown"}


KEYSTONE_28 = """\
[DEFAULT]
max_param_size = 64

[assignment]
caching = false

[token]
revocation_cache_time = 3600
cache_on_issue = true

[oslo_policy]
enforce_scope = true

[keystone_authtoken]
memcache_servers = 127.0.0.1:11211

[cache]
memcache_socket_timeout = 1.0
"""


@pytest.mark.integration
def test_keystone_28_to_30_on_a_hand_made_file() -> None:
    installed, target = _two_releases("keystone", "28.0.0", "30.0.0")
    ini = IniFile.parse(KEYSTONE_28, "keystone.conf")
    diff = diff_options(ini, installed, target)
    got = {(f.kind, f.group, f.option): f.replacement for f in diff.findings if f.line}
    assert got == {
        ("deprecated", "DEFAULT", "max_param_size"): None,
        ("deprecated", "token", "cache_on_issue"): None,
        ("removed", "oslo_policy", "enforce_scope"): None,
        ("renamed", "assignment", "caching"): "[resource] caching",
        ("renamed", "token", "revocation_cache_time"): "[revoke] cache_time",
        ("renamed", "keystone_authtoken", "memcache_servers"):
            "[keystone_authtoken] memcached_servers",
        ("renamed", "cache", "memcache_socket_timeout"): "[cache] socket_timeout",
    }  # fmt: skip
    fixed = fixed_text(ini, diff)
    assert fixed.endswith(
        "\n[resource]\n# stacktender: was [assignment] caching (moved in keystone 30.0.0)\n"
        "caching = false\n\n[revoke]\n# stacktender: was [token] revocation_cache_time "
        "(moved in keystone 30.0.0)\ncache_time = 3600\n"
    )


@pytest.mark.integration
def test_unknown_release_or_service_fails_before_writing(tmp_path: Path) -> None:
    conf = tmp_path / "nova.conf"
    conf.write_text(NOVA_31)
    with pytest.raises(ConfigError, match=r"PyPI has no release 99\.0\.0 of nova"):
        config_diff("nova", conf, "99.0.0", from_version="31.0.0", cache_dir=tmp_path / "cache")
    with pytest.raises(ConfigError, match=r"PyPI has no release 30\.9\.9 of nova"):
        config_diff("nova", conf, "34.0.0", from_version="30.9.9", cache_dir=tmp_path / "cache")
    with pytest.raises(ConfigError, match="unknown service 'novva'"):
        config_diff("novva", conf, "34.0.0", cache_dir=CACHE)
    # nothing installed (the cache directory is not even created), nothing written
    assert conf.read_text() == NOVA_31 and list(tmp_path.iterdir()) == [conf]


# --- the testcloud's rendered files ---------------------------------------------------------


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.integration
@pytest.mark.testcloud
def test_testcloud_files_against_older_releases(testcloud: Any) -> None:
    etc = Path(testcloud.settings.state_dir) / "etc"
    venv = Path(testcloud.settings.state_dir) / "venv"
    nova_conf = etc / "nova" / "nova-api.conf"
    before = _sha(nova_conf)
    _, diff = config_diff("nova", nova_conf, "31.0.0", installed_python=venv, cache_dir=CACHE)
    assert (diff.installed, diff.target) == ("34.0.0", "31.0.0")
    found = {(f.kind, f.group, f.option) for f in diff.findings if f.line}
    # nova reads no region_name in [service_user] or [cinder] (it is [cinder] os_region_name)
    assert ("unknown", "service_user", "region_name") in found
    assert ("unknown", "cinder", "region_name") in found
    # [api] auth_strategy is gone from 34.0.0 and deprecated for removal in 31.0.0
    assert ("deprecated", "api", "auth_strategy") in found
    assert diff.unchanged == diff.options_set - len(found) > 50
    assert _sha(nova_conf) == before

    keystone_conf = etc / "keystone" / "keystone.conf"
    _, kdiff = config_diff(
        "keystone", keystone_conf, "28.0.0", installed_python=venv, cache_dir=CACHE
    )
    kfound = {(f.kind, f.group, f.option) for f in kdiff.findings if f.line}
    assert kfound == {("unknown", "DEFAULT", "host")}  # keystone has no [DEFAULT] host
    changed = {(f.group, f.option): f.change for f in kdiff.findings if f.kind == "default-changed"}
    assert changed["keystone_authtoken", "service_token_roles_required"] == "true -> false"


@pytest.mark.integration
@pytest.mark.testcloud
def test_testcloud_cinder_and_glance_backends_and_missing_optional_modules(testcloud: Any) -> None:
    etc = Path(testcloud.settings.state_dir) / "etc"
    venv = Path(testcloud.settings.state_dir) / "venv"
    _, cinder = config_diff(
        "cinder", etc / "cinder" / "cinder-volume.conf", "28.0.0", installed_python=venv,
        cache_dir=CACHE,
    )  # fmt: skip
    # [fake] is a backend section (enabled_backends), [service_user] auth_type comes from
    # keystoneauth; cinder's options need googleapiclient, which the testcloud lacks
    unknown = {(f.group, f.option) for f in cinder.findings if f.kind == "unknown"}
    assert unknown == {("service_user", "region_name")}
    assert any("googleapiclient" in note for note in cinder.notes)
    _, glance = config_diff(
        "glance", etc / "glance" / "glance-api.conf", "32.0.0", installed_python=venv,
        cache_dir=CACHE,
    )  # fmt: skip
    unknown = {(f.group, f.option) for f in glance.findings if f.kind == "unknown"}
    assert unknown == {("DEFAULT", "host")}  # multi-store sections are known
