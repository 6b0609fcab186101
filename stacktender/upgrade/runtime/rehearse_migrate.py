"""Run one console script of a release (``placement-manage``, ``keystone-manage``, ...).

Run by stacktender with a *release's* python (never stacktender's own):

    python -I rehearse_migrate.py placement-manage --config-file X db sync

The script is found through its ``console_scripts`` entry point rather than the file in
the venv's ``bin/``: a venv that was built under another name and renamed into the cache
keeps the old interpreter path in its scripts' ``#!`` lines, so those files do not run.
Standard library only, Python 3.8 on; the exit code is the command's.
"""

import importlib.metadata as md
import sys


def main():
    if len(sys.argv) < 2:
        sys.stderr.write("usage: rehearse_migrate.py CONSOLE_SCRIPT [ARG...]\n")
        return 2
    name = sys.argv[1]
    found = [ep for ep in md.entry_points().get("console_scripts", ())
             if ep.name == name] if sys.version_info < (3, 10) else list(
        md.entry_points(group="console_scripts", name=name))  # fmt: skip
    if not found:
        sys.stderr.write(f"no console script {name!r} in this environment\n")
        return 127
    sys.argv = [name, *sys.argv[2:]]
    # as the generated console script does: whatever main returns becomes the exit status
    return found[0].load()()


if __name__ == "__main__":
    sys.exit(main())
