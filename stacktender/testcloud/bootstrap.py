"""One-time setup per project: migrations, nova cells, keystone keys and bootstrap.

Each project's commands run in order (projects run concurrently); a marker file
records success, so a second ``up`` after a failure resumes where it stopped.
"""

from __future__ import annotations

import getpass
import grp
import itertools
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from stacktender.testcloud.config import RUNTIME_DIR, Settings
from stacktender.testcloud.errors import ServiceFailed
from stacktender.testcloud.releases import SETUP

__all__ = ["is_set_up", "run_setup"]


def _marker(settings: Settings, project: str) -> Path:
    return settings.run / f"setup-{project}.done"


def is_set_up(settings: Settings, project: str) -> bool:
    return _marker(settings, project).exists()


def run_setup(settings: Settings, project: str) -> float:
    """Run a project's setup commands unless done; seconds taken. ServiceFailed names the log."""
    if is_set_up(settings, project):
        return 0.0
    began = time.monotonic()
    name = f"{project}-manage"
    log = settings.logs / f"{name}.log"
    ctx = settings.context(name)
    ctx.update(
        conf=str(settings.etc / project / f"{name}.conf"),
        admin_password=settings.passwords["admin"],
        user=getpass.getuser(),
        group=grp.getgrgid(os.getgid()).gr_name,
    )
    env = {**os.environ, "PATH": f"{settings.venv / 'bin'}:{os.environ.get('PATH', '')}"}
    plan: list[dict[str, Any]] = []
    for argv, also_ok in SETUP[project]:
        cmd = [a.format_map(ctx) for a in argv]
        shown = " ".join(itertools.takewhile(lambda a: not a.startswith("-"), cmd[3:]))
        plan.append({"argv": cmd, "ok": list(also_ok), "show": shown})
    runner = [str(settings.python), str(RUNTIME_DIR / "manage.py"), json.dumps(plan)]
    with open(log, "ab") as out:
        out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} setting up {project}\n".encode())
        out.flush()
        proc = subprocess.run(
            runner, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=settings.state_dir
        )
    if proc.returncode != 0:
        failed = plan[proc.returncode - 10] if 10 <= proc.returncode < 10 + len(plan) else None
        what = f"'{failed['argv'][0]} {failed['show']}'" if failed else "setup"
        raise ServiceFailed(project, f"{what} failed (exit {proc.returncode})", log)
    _marker(settings, project).write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))
    return time.monotonic() - began
