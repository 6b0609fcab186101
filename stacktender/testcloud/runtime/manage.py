# mypy: ignore-errors
"""Run several ``*-manage`` commands of one project in one interpreter.

Runs under the testcloud venv's python (never imported by stacktender). Importing
nova or keystone costs seconds of CPU; their manage commands are console scripts
that parse oslo.config's global CONF, so between commands CONF is cleared and the
same entry point is called again with the next argv.

Usage: manage.py PLAN_JSON, where the plan is a list of
``{"argv": [script, args...], "ok": [extra exit codes], "show": "text"}``.
Exit code: 0, or 10 + the index of the first failing command.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys


def _entry_point(script: str):
    for ep in importlib.metadata.entry_points(group="console_scripts"):
        if ep.name == script:
            return ep.load()
    raise SystemExit(f"no console script {script!r} in this environment")


def _keep_database_setup() -> None:
    """nova configures its database engines once per process; keep the first setup."""
    nova_api = sys.modules.get("nova.db.api.api")
    nova_main = sys.modules.get("nova.db.main.api")
    for module in (nova_api, nova_main):
        if module is not None:
            module.configure = lambda conf: None


def main() -> int:
    from oslo_config import cfg

    plan = json.loads(sys.argv[1])
    for index, step in enumerate(plan):
        script, *args = step["argv"]
        func = _entry_point(script)
        print(f"--- {script} {step.get('show', '')}", flush=True)
        if index:
            cfg.CONF.clear()
            _keep_database_setup()
        sys.argv = [script, *args]
        try:
            code = func()
        except SystemExit as exc:
            code = exc.code
        code = 0 if code is None else code if isinstance(code, int) else 1
        if code != 0 and code not in step.get("ok", []):
            print(f"--- {script} {step.get('show', '')}: exit {code}", flush=True)
            return 10 + index
    return 0


if __name__ == "__main__":
    sys.exit(main())
