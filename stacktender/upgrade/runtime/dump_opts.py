"""Dump the oslo.config options of one OpenStack package as JSON on stdout.

Run by stacktender with a *release's* python (never stacktender's own):

    python -I dump_opts.py nova

The namespaces are the ``oslo.config.opts`` entry points of the package and of the
packages it requires (transitively), so a venv holding several services (the testcloud's)
yields nova's options and not cinder's. Standard library only: this file runs in
environments stacktender knows nothing about, from Python 3.8 on.
"""

import importlib.metadata as md
import json
import re
import sys
import sysconfig
import types

_NAME_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
PREFIX = sysconfig.get_paths()["purelib"]


def canon(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_closure(package):
    """Canonical names of package and everything it requires (no extras)."""
    seen = set()
    todo = [package]
    while todo:
        name = canon(todo.pop())
        if name in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        seen.add(name)
        for req in dist.requires or []:
            if "extra ==" in req.replace('"', "").replace("'", "") or "extra==" in req:
                continue
            match = _NAME_RE.match(req)
            if match:
                todo.append(match.group(1))
    return seen


def render(value):
    """A default as the sample config file would show it (string), or None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(render(v) or "" for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}:{render(v)}" for k, v in sorted(value.items()))
    text = str(value)
    # defaults computed from the install location differ between two venvs of one machine
    return text.replace(PREFIX, "<site-packages>").replace(sys.prefix, "<prefix>")


def describe(group, opt, namespace, dynamic=False):
    deprecated = []
    for d in opt.deprecated_opts or []:
        # oslo.config: a missing group or name means "the option's own"
        old = {
            "group": _group_name(d.group) if d.group else group,
            "name": (d.name or opt.dest).replace("-", "_"),
        }
        if old not in deprecated and (old["group"], old["name"]) != (group, opt.dest):
            deprecated.append(old)
    default = (
        opt.sample_default if getattr(opt, "sample_default", None) is not None else opt.default
    )
    help_text = (opt.help or "").strip()
    first = " ".join(help_text.split("\n\n")[0].split())
    # the first sentence is the summary the sample config files lead with
    first = re.split(r"(?<=[a-z0-9)])\. ", first)[0]
    choices = getattr(getattr(opt, "type", None), "choices", None)
    return {
        "group": group,
        "name": opt.dest,
        "type": type(opt).__name__,
        "default": render(default),
        "choices": [str(c) for c in choices] if choices else None,
        "deprecated_opts": deprecated,
        "deprecated_for_removal": bool(getattr(opt, "deprecated_for_removal", False)),
        "deprecated_reason": getattr(opt, "deprecated_reason", None),
        "deprecated_since": getattr(opt, "deprecated_since", None),
        "help": first[:200],
        "namespace": namespace,
        "dynamic": dynamic,
    }


def _group_name(group):
    if group is None:
        return "DEFAULT"
    name = getattr(group, "name", group)
    # oslo.config matches section names case-insensitively, except DEFAULT
    return name if name == "DEFAULT" else str(name).lower()


def auth_plugin_opts(errors):
    """Options keystoneauth adds at run time to a group it loads a plugin from: auth_type,
    auth_section and the options of the common plugins."""
    try:
        from keystoneauth1 import loading
    except ImportError:
        return []
    except Exception as exc:  # a broken dependency; reported like a broken namespace
        errors.append(f"keystoneauth1.loading: {type(exc).__name__}: {exc}")
        return []
    opts = {opt.dest: opt for opt in loading.get_auth_common_conf_options()}
    for plugin in ("password", "v3password", "token", "v3applicationcredential"):
        try:
            for opt in loading.get_auth_plugin_conf_options(plugin):
                opts.setdefault(opt.dest, opt)
        except Exception:  # a plugin missing from an old keystoneauth
            continue
    return list(opts.values())


class _Stub:
    """Whatever a module of a missing optional dependency is asked for at import time."""

    def __init__(self, *args, **kwargs):
        pass

    def __repr__(self):  # the same text in every run, should a default come from a stub
        return "<not installed>"

    def __call__(self, *args, **kwargs):
        return _Stub()

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _Stub()

    def __mro_entries__(self, bases):  # class Driver(missing.Base): ...
        return (object,)

    def __iter__(self):
        return iter(())

    def __getitem__(self, key):
        return _Stub()


class _StubModule(types.ModuleType):
    __path__ = []  # a package, so its submodules can be stubbed too

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _Stub()


def load_listing(ep, package, stubbed, attempts=25):
    """Call an entry point; optional dependencies that are not installed (a cloud driver's
    SDK, a Linux-only library) are replaced by stub modules, as oslo-config-generator runs
    would have them installed and only the option declarations matter here."""
    own = canon(package).replace("-", "_")
    for _ in range(attempts):
        try:
            return ep.load()()
        except ModuleNotFoundError as exc:
            missing = exc.name
            if not missing or missing in sys.modules or missing.split(".")[0] == own:
                raise
            sys.modules[missing] = _StubModule(missing)
            stubbed.append(missing)
    return ep.load()()


def main():
    package = sys.argv[1]
    wanted = requirement_closure(package)
    if canon(package) not in wanted:
        sys.stderr.write(f"{package} is not installed in {sys.prefix}\n")
        return 2
    eps = md.entry_points()
    if hasattr(eps, "select"):
        eps = eps.select(group="oslo.config.opts")
    else:  # Python < 3.10
        eps = eps.get("oslo.config.opts", [])
    options = {}
    namespaces = []
    errors = []
    stubbed = []
    for ep in sorted(eps, key=lambda e: e.name):
        dist = getattr(ep, "dist", None)
        if dist is not None and canon(dist.metadata["Name"]) not in wanted:
            continue
        if ".tests." in ep.name or ep.name.endswith(".tests"):
            continue
        try:
            listing = load_listing(ep, package, stubbed)
        except Exception as exc:  # one broken namespace must not hide the rest
            errors.append(f"{ep.name}: {type(exc).__name__}: {exc}")
            continue
        namespaces.append(ep.name)
        for group, opts in listing:
            gname = _group_name(group)
            for opt in opts:
                key = (gname, opt.dest)
                # the package's own namespaces win over a library's copy of an option
                if key not in options or ep.name.startswith(package):
                    options[key] = describe(gname, opt, ep.name)
    # [service_user] is always loaded through keystoneauth, though some services (cinder)
    # list only their own option of that group
    auth_groups = sorted(
        {g for (g, n) in options if n == "auth_type" or g in ("service_user", "keystone_authtoken")}
    )
    for opt in auth_plugin_opts(errors):
        for group in auth_groups:
            options.setdefault((group, opt.dest), describe(group, opt, "keystoneauth1", True))
    version = md.version(package)
    json.dump(
        {
            "package": package,
            "version": version,
            "python": sys.version.split()[0],
            "namespaces": namespaces,
            "errors": errors,
            "stubbed": sorted(stubbed),
            "options": [options[k] for k in sorted(options)],
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
