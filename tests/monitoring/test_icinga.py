"""``stacktender export icinga``: the generated CheckCommands, validated and run by a real
Icinga 2 (``/usr/sbin/icinga2``) started in a temporary directory, without systemd."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support import require_binary, running, wait_until

from stacktender.checks.base import Check, CheckContext, Outcome
from stacktender.hookspecs import hookimpl
from stacktender.monitoring.icinga import (
    IcingaExportError,
    command_spec,
    icinga_config,
)
from stacktender.results import Status, ThresholdSpec

STACKTENDER = str(Path(sys.executable).parent / "stacktender")


def _never(ctx: CheckContext) -> None:
    raise AssertionError("not run")


def _ok(data: Any, ctx: CheckContext) -> Outcome:
    return Outcome(Status.OK, "fine")


# Every awkward string Icinga's parser and macro resolver could trip on.
WEIRD = Check(
    name="weird-check.v2",
    service="weird",
    description='quotes " back\\slash */ $dollar$ tab\t newline\n {{ end }}',
    collect=_never,
    evaluate=_ok,
    default_url="http://admin:s3cret@example.com:8080/",
    thresholds=(
        ThresholdSpec("5xx-rate", 'rate "of" 5xx\\s', "~:1", "@2:3"),
        ThresholdSpec("lag", "lag in $s"),
    ),
    options={"url": "x", "path": "/a b", "mode": None},
    option_help={"path": 'a "path" with $ and \\'},
)


class WeirdPlugin:
    @staticmethod
    @hookimpl
    def stacktender_checks() -> list[Check]:
        return [WEIRD]


def _check(name: str, **kwargs: Any) -> Check:
    return Check(
        name=name,
        service="x",
        description="x",
        collect=_never,
        evaluate=_ok,
        default_url="tcp://127.0.0.1:1",
        **kwargs,
    )


# -- the generated configuration, without Icinga --------------------------------------------


def test_variables_follow_the_naming_scheme() -> None:
    spec = command_spec(WEIRD)
    assert spec.object_name == "stacktender-weird-check.v2"
    base = "stacktender_weird_check_v2"
    assert list(spec.variables) == [
        f"{base}_url",
        f"{base}_host",
        f"{base}_port",
        f"{base}_timeout",
        f"{base}_5xx_rate_warning",
        f"{base}_5xx_rate_critical",
        f"{base}_lag_warning",
        f"{base}_lag_critical",
        f"{base}_option_url",  # 'url' is taken by --url
        f"{base}_path",
        f"{base}_mode",
    ]
    for var in spec.variables:
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var)
    assert "s3cret" not in "".join(a.description for a in spec.arguments)
    assert spec.defaults == {f"{base}_timeout": "$stacktender_timeout$"}


def test_strings_are_escaped() -> None:
    text = icinga_config([WEIRD], '/opt/my "st"$x\\/stacktender')
    assert 'command = [ "/opt/my \\"st\\"$$x\\\\/stacktender", "check", "weird-check.v2" ]' in text
    assert '"-w 5xx-rate" = {' in text
    assert 'value = "5xx-rate=$stacktender_weird_check_v2_5xx_rate_warning$"' in text
    assert "s3cret" not in text
    # The description's newline stays inside its one comment line and string literal.
    assert '// weird-check.v2: quotes " back\\slash */ $dollar$ tab newline {{ end }}' in text
    for line in text.splitlines():
        if line.lstrip().startswith("description"):
            assert line.count('"') - line.count('\\"') == 2


def test_every_installed_check_gets_a_command(make_app: Callable[..., Any]) -> None:
    app = make_app()
    text = icinga_config(app.checks.values(), "/usr/bin/stacktender")
    names = re.findall(r'^object CheckCommand "stacktender-([^"]+)"', text, re.M)
    assert names == sorted(app.checks)
    assert {"memcached", "disk-free"} <= set(names)


def test_clashing_variable_names_are_refused() -> None:
    with pytest.raises(IcingaExportError, match="would share the Icinga variable"):
        icinga_config([_check("a-b"), _check("a_b")], "/usr/bin/stacktender")
    taken = _check("c", thresholds=(ThresholdSpec("x", "x"),), options={"x_warning": 1})
    spec = command_spec(taken)
    assert "stacktender_c_option_x_warning" in spec.variables
    clash = _check("c", options={"url": 1, "option_url": 2})
    with pytest.raises(IcingaExportError, match="option_url"):
        command_spec(clash)


def test_cli_writes_the_file_with_this_installations_script(
    cli_run: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    out = tmp_path / "commands.conf"
    proc = cli_run("export", "icinga", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert f'command = [ "{STACKTENDER}", "check", "memcached" ]' in text
    assert os.access(STACKTENDER, os.X_OK)

    proc = cli_run("export", "icinga", "--command", "/opt/st/bin/stacktender")
    assert proc.returncode == 0, proc.stderr
    assert 'command = [ "/opt/st/bin/stacktender", "check", "disk-free" ]' in proc.stdout

    proc = cli_run("export", "icinga", "--command", "stacktender")
    assert proc.returncode == 1
    assert "must be an absolute path" in proc.stderr


def test_help_shows_an_example(cli_run: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    proc = cli_run("export", "icinga", "--help")
    assert proc.returncode == 0
    assert "stacktender export icinga -o /etc/icinga2/conf.d/" in proc.stdout


# -- a real Icinga 2 ------------------------------------------------------------------------


@dataclass
class Icinga:
    """A private Icinga 2 whose every path is under root; runs as root, no systemd."""

    binary: str
    root: Path

    def defines(self) -> list[str]:
        dirs = {
            "ConfigDir": self.root,
            "DataDir": self.root / "data",
            "LogDir": self.root / "log",
            "CacheDir": self.root / "cache",
            "SpoolDir": self.root / "spool",
            "InitRunDir": self.root / "run",
        }
        for path in dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        return [
            "-DRunAsUser=root",
            "-DRunAsGroup=root",
            *(f"-D{name}={path}" for name, path in dirs.items()),
        ]

    def validate(self, config: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, "daemon", "-C", "-c", str(config), *self.defines()],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def daemon(self, config: Path) -> list[str]:
        return [self.binary, "daemon", "-c", str(config), "-x", "notice", *self.defines()]


@pytest.fixture
def icinga(tmp_path: Path) -> Icinga:
    return Icinga(require_binary("icinga2"), tmp_path / "icinga")


@pytest.mark.integration
def test_icinga_validates_the_export(
    icinga: Icinga, cli_run: Callable[..., subprocess.CompletedProcess[str]], make_app: Any
) -> None:
    commands = icinga.root / "stacktender-commands.conf"
    icinga.root.mkdir(parents=True)
    proc = cli_run("export", "icinga", "-o", str(commands))
    assert proc.returncode == 0, proc.stderr
    (icinga.root / "weird.conf").write_text(icinga_config([WEIRD], '/opt/my "st"$x\\/stacktender'))
    main = icinga.root / "icinga2.conf"
    main.write_text('include <itl>\ninclude "stacktender-commands.conf"\ninclude "weird.conf"\n')

    result = icinga.validate(main)
    assert result.returncode == 0, result.stdout + result.stderr
    installed = len(make_app().checks)
    itl = _itl_command_count(icinga)
    assert f"Instantiated {installed + 1 + itl} CheckCommands" in result.stdout

    # The same validation does reject a broken file, so the pass above means something.
    commands.write_text(commands.read_text().rstrip().removesuffix("}"))
    broken = icinga.validate(main)
    assert broken.returncode != 0
    assert "critical/config" in broken.stdout + broken.stderr


@pytest.mark.integration
def test_icinga_accepts_the_documented_example(
    icinga: Icinga, cli_run: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    docs = Path(__file__).parents[2] / "docs" / "monitoring.md"
    section = docs.read_text().split("### Example services", 1)[1]
    example = section.split("```\n", 2)[1]
    assert 'check_command = "stacktender-memcached"' in example
    icinga.root.mkdir(parents=True)
    proc = cli_run("export", "icinga", "-o", str(icinga.root / "stacktender-commands.conf"))
    assert proc.returncode == 0, proc.stderr
    (icinga.root / "example.conf").write_text(example)
    main = icinga.root / "icinga2.conf"
    main.write_text(
        "include <itl>\n"
        'include "stacktender-commands.conf"\n'
        'template Host "generic-host" { check_command = "dummy" }\n'
        'include "example.conf"\n'
    )
    result = icinga.validate(main)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Instantiated 2 Services" in result.stdout


def _itl_command_count(icinga: Icinga) -> int:
    empty = icinga.root / "itl-only.conf"
    empty.write_text("include <itl>\n")
    result = icinga.validate(empty)
    assert result.returncode == 0, result.stdout
    match = re.search(r"Instantiated (\d+) CheckCommands", result.stdout)
    assert match, result.stdout
    return int(match.group(1))


ARGV_PLUGIN = """\
#!{python}
import json, os, sys
seen = {{"argv": sys.argv[1:], "config": os.environ.get("STACKTENDER_CONFIG")}}
print("OK - " + json.dumps(seen))
"""


@pytest.fixture
def icinga_running(
    icinga: Icinga,
    tmp_path: Path,
    memcached_server: int,
    cli_run: Callable[..., subprocess.CompletedProcess[str]],
) -> Iterator[dict[str, Any]]:
    """Icinga 2 running our exported commands every second, perfdata to files."""
    root = icinga.root
    root.mkdir(parents=True)
    perf = root / "perf"
    perf.mkdir()
    proc = cli_run("export", "icinga", "-o", str(root / "stacktender-commands.conf"))
    assert proc.returncode == 0, proc.stderr

    # A stand-in for stacktender at an awkward path, to see the exact argv Icinga builds.
    odd_dir = tmp_path / 'odd "dir" $HOME'
    odd_dir.mkdir()
    argv_plugin = odd_dir / "stacktender"
    argv_plugin.write_text(ARGV_PLUGIN.format(python=sys.executable))
    argv_plugin.chmod(0o755)
    (root / "weird.conf").write_text(icinga_config([WEIRD], str(argv_plugin)))

    disk_dir = tmp_path / "disk"
    disk_dir.mkdir()
    st_config = tmp_path / "st config.yaml"
    st_config.write_text("checks:\n  memcached:\n    warning: {connections: '@0:100'}\n")
    main = root / "icinga2.conf"
    template = (
        "SERVICE::$service.name$\\tSTATE::$service.state$\\tPERF::$service.perfdata$"
        "\\tOUTPUT::$service.output$"  # output last: it may span lines
    )
    main.write_text(
        textwrap.dedent(
            f"""\
            include <itl>
            include "stacktender-commands.conf"
            include "weird.conf"

            object CheckerComponent "checker" {{}}
            object PerfdataWriter "perfdata" {{
              host_perfdata_path = "{perf}/host"
              host_temp_path = "{perf}/host-tmp"
              service_perfdata_path = "{perf}/service"
              service_temp_path = "{perf}/service-tmp"
              service_format_template = "{template}"
              rotation_interval = 1s
            }}
            object Host "localhost" {{
              check_command = "dummy"
            }}
            template Service "every-second" {{
              host_name = "localhost"
              check_interval = 1s
              retry_interval = 1s
            }}
            object Service "disk-warn" {{
              import "every-second"
              check_command = "stacktender-disk-free"
              vars.stacktender_disk_free_path = "{disk_dir}"
              vars.stacktender_disk_free_free_warning = "101:"
            }}
            object Service "disk-default" {{
              import "every-second"
              check_command = "stacktender-disk-free"
              vars.stacktender_disk_free_free_warning = ""
            }}
            object Service "memcached" {{
              import "every-second"
              check_command = "stacktender-memcached"
              vars.stacktender_memcached_url = "memcached://127.0.0.1:{memcached_server}"
              vars.stacktender_config = "{st_config}"
              vars.stacktender_timeout = 5
            }}
            object Service "weird" {{
              import "every-second"
              check_command = "stacktender-weird-check.v2"
              vars.stacktender_weird_check_v2_5xx_rate_warning = "~:5"
              vars.stacktender_weird_check_v2_lag_critical = ""
              vars.stacktender_weird_check_v2_option_url = "a \\"b\\" $$c"
              vars.stacktender_weird_check_v2_mode = 3
              vars.stacktender_timeout = 7
              vars.stacktender_config = "/etc/x y.yaml"
            }}
            """
        )
    )
    validated = icinga.validate(main)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    log = root / "daemon.log"
    started = time.monotonic()
    with running(
        icinga.daemon(main),
        ready=lambda: log.exists() and "'checker' started" in log.read_text(),
        log=log,
    ):
        yield {
            "perf": perf,
            "log": log,
            "disk_dir": disk_dir,
            "st_config": st_config,
            "argv_plugin": argv_plugin,
            "started": started,
        }


def _records(perf: Path) -> dict[str, dict[str, str]]:
    """The latest perfdata record of each service, from rotated and current files."""
    latest: dict[str, dict[str, str]] = {}
    files = [*sorted(perf.glob("service.*")), perf / "service-tmp"]
    text = "".join(f.read_text(errors="replace") for f in files if f.exists())
    for chunk in re.split(r"(?:^|\n)(?=SERVICE::)", text):
        if not chunk.startswith("SERVICE::"):
            continue
        head, _, output = chunk.partition("\tOUTPUT::")
        fields = dict(f.split("::", 1) for f in head.split("\t") if "::" in f)
        fields["OUTPUT"] = _without_plugin_warnings(output.strip())
        latest[fields["SERVICE"]] = fields
    return latest


def _without_plugin_warnings(output: str) -> str:
    # Icinga merges the plugin's stderr into its output, so a broken plugin installed beside
    # stacktender prefixes every output with its load warning; that is not what we test here.
    lines = output.splitlines()
    while lines and re.match(r"plugin \S+ \(.*\) failed to load: ", lines[0]):
        lines.pop(0)
    return "\n".join(lines)


@pytest.mark.integration
def test_icinga_runs_the_exported_commands(icinga_running: dict[str, Any]) -> None:
    perf = icinga_running["perf"]
    wanted = {"disk-warn", "disk-default", "memcached", "weird"}
    try:
        wait_until(lambda: wanted <= set(_records(perf)), 30, "perfdata of every service")
    except TimeoutError:
        pytest.fail(f"no perfdata; daemon log:\n{icinga_running['log'].read_text()[-3000:]}")
    took = time.monotonic() - icinga_running["started"]
    records = _records(perf)

    # -w from a custom var, -o path from another: WARNING on our directory.
    disk = records["disk-warn"]
    assert disk["STATE"] == "WARNING", disk
    assert disk["OUTPUT"].startswith("DISK-FREE WARNING - ")
    assert f"free on {icinga_running['disk_dir']}" in disk["OUTPUT"]
    assert re.fullmatch(r"free=[\d.]+%;101:;10:;0;100", disk["PERF"]), disk

    # Unset and empty vars pass nothing: the check's defaults apply.
    default = records["disk-default"]
    assert default["OUTPUT"].endswith("free on /") or "free on / " in default["OUTPUT"]
    assert re.fullmatch(r"free=[\d.]+%;20:;10:;0;100", default["PERF"]), default

    # --url from a var, the configuration file from stacktender_config.
    mc = records["memcached"]
    assert mc["STATE"] == "WARNING", mc
    assert mc["OUTPUT"].startswith("MEMCACHED WARNING - memcached 1."), mc
    assert "connections=" in mc["PERF"] and ";@0:100;95;0;100" in mc["PERF"], mc

    # The exact argv and environment Icinga built from the awkward definitions.
    weird = records["weird"]
    assert weird["STATE"] == "OK", weird
    seen = json.loads(weird["OUTPUT"].removeprefix("OK - "))
    assert seen == {
        "argv": [
            "check",
            "weird-check.v2",
            "-t",
            "7",
            "-w",
            "5xx-rate=~:5",
            "-o",
            'url=a "b" $c',
            "-o",
            "mode=3",
        ],
        "config": "/etc/x y.yaml",
    }
    log = icinga_running["log"].read_text()
    assert str(icinga_running["argv_plugin"]) in log  # ran from the awkward path, as exported
    print(f"icinga: every service checked {took:.1f}s after the daemon was started")
