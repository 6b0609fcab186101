"""A testcloud's settings (kept in its state directory) and its rendered config files."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from stacktender.config import default_data_dir
from stacktender.testcloud import templates
from stacktender.testcloud.errors import TestCloudError
from stacktender.testcloud.releases import (
    DATABASES,
    DEFAULT_RELEASE,
    MYSQL_ONLY,
    ServiceSpec,
    compute_groups,
    services_for,
)

__all__ = [
    "DEFAULT_DB_URL",
    "DEFAULT_PORT_BASE",
    "Settings",
    "default_state_dir",
    "render_configs",
]

DEFAULT_DB_URL = "mysql+pymysql://root@127.0.0.1:3306"
DEFAULT_RABBIT_URL = "rabbit://guest:guest@127.0.0.1:5672"
DEFAULT_RABBIT_API = "http://guest:guest@127.0.0.1:15672"
DEFAULT_PORT_BASE = 25000
SETTINGS_FILE = "testcloud.json"
RUNTIME_DIR = Path(__file__).parent / "runtime"


def default_state_dir() -> Path:
    """``<data dir>/testcloud``, e.g. ``~/.local/share/stacktender/testcloud``."""
    return default_data_dir() / "testcloud"


@dataclass
class Settings:
    """Everything that identifies one testcloud; saved as ``<state>/testcloud.json``."""

    state_dir: Path
    name: str = "testcloud"
    release: str = DEFAULT_RELEASE
    db_url: str = DEFAULT_DB_URL
    mysql_url: str = DEFAULT_DB_URL
    rabbit_url: str = DEFAULT_RABBIT_URL
    rabbit_api: str = DEFAULT_RABBIT_API
    port_base: int = DEFAULT_PORT_BASE
    compute_hosts: int = 1
    debug: bool = False
    passwords: dict[str, str] = field(default_factory=dict)

    # -- persistence -------------------------------------------------------------------
    @classmethod
    def load(cls, state_dir: Path) -> Settings | None:
        """The settings saved in state_dir, or None when no cloud was set up there."""
        path = Path(state_dir) / SETTINGS_FILE
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise TestCloudError(f"{path}: unreadable testcloud settings: {exc}") from None
        data["state_dir"] = Path(state_dir)
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        data: dict[str, Any] = asdict(self)
        data.pop("state_dir")
        path = self.state_dir / SETTINGS_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        os.chmod(tmp, 0o600)
        tmp.replace(path)

    def ensure_passwords(self) -> None:
        for who in ("admin", "demo", "service"):
            self.passwords.setdefault(who, secrets.token_urlsafe(12))

    # -- layout ------------------------------------------------------------------------
    @property
    def venv(self) -> Path:
        return self.state_dir / "venv"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def etc(self) -> Path:
        return self.state_dir / "etc"

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def data(self) -> Path:
        return self.state_dir / "data"

    @property
    def run(self) -> Path:
        return self.state_dir / "run"

    @property
    def runtime(self) -> Path:
        """Copies of the runtime helpers the long-running processes start from: a
        path inside the state directory keeps their command lines the same whichever
        checkout of stacktender brought the cloud up."""
        return self.state_dir / "runtime"

    @property
    def clouds_yaml(self) -> Path:
        return self.state_dir / "clouds.yaml"

    # -- topology ----------------------------------------------------------------------
    def services(self) -> list[ServiceSpec]:
        return services_for(self.compute_hosts)

    def service(self, name: str) -> ServiceSpec:
        for spec in self.services():
            if spec.name == name:
                return spec
        known = ", ".join(s.name for s in self.services())
        raise TestCloudError(f"no testcloud service {name!r} (services: {known})")

    def port(self, spec: ServiceSpec) -> int | None:
        return None if spec.port_offset is None else self.port_base + spec.port_offset

    def url(self, service: str) -> str:
        port = self.port(self.service(service))
        return f"http://127.0.0.1:{port}"

    @property
    def keystone_url(self) -> str:
        return self.url("keystone") + "/v3"

    def database_names(self) -> dict[str, list[str]]:
        """Database names per project, prefixed with the cloud's name."""
        return {p: [f"{self.name}_{d}" for d in dbs] for p, dbs in DATABASES.items()}

    def server_url(self, project: str) -> str:
        """The database server of a project: ``db_url``, except MySQL-only projects when
        ``db_url`` is PostgreSQL (they use ``mysql_url``)."""
        if project in MYSQL_ONLY and self.db_url.startswith("postgres"):
            return self.mysql_url
        return self.db_url

    def servers(self) -> dict[str, list[str]]:
        """Database server URL -> the names of the cloud's databases on it."""
        out: dict[str, list[str]] = {}
        for project, names in self.database_names().items():
            out.setdefault(self.server_url(project), []).extend(names)
        return out

    def database_url(self, database: str) -> str:
        """SQLAlchemy URL the services use for one of the cloud's databases."""
        project = next(p for p, names in self.database_names().items() if database in names)
        parts = urlsplit(self.server_url(project))
        scheme = parts.scheme
        query = "charset=utf8" if scheme.startswith("mysql") else ""
        if scheme in ("postgresql", "postgres"):
            scheme = "postgresql+psycopg2"
        return urlunsplit((scheme, parts.netloc, "/" + database, query, ""))

    @property
    def transport_url(self) -> str:
        return self.rabbit_url.rstrip("/") + "/" + self.name

    def context(self, service: str = "") -> dict[str, str]:
        """Values the config templates are filled with."""
        ctx: dict[str, str] = {
            "service": service,
            "state": str(self.state_dir),
            "etc": str(self.etc),
            "logs": str(self.logs),
            "data": str(self.data),
            "run": str(self.run),
            "bin": str(self.venv / "bin"),
            "python": str(self.python),
            "runtime": str(self.runtime),
            "debug": "true" if self.debug else "false",
            "transport_url": self.transport_url,
            "keystone_url": self.keystone_url,
            "service_password": self.passwords.get("service", ""),
            "agent_down_time": "30",
            "agent_report_interval": "10",
            "compute_hosts": ",".join(f"tc-compute-{i}" for i in range(1, self.compute_hosts + 1)),
        }
        for spec in self.services():
            if spec.port_offset is not None:
                ctx[f"url_{spec.name.replace('-', '_')}"] = self.url(spec.name)
        for dbs in self.database_names().values():
            for db in dbs:
                ctx["db_" + db.removeprefix(self.name + "_")] = self.database_url(db)
        return ctx


def config_path(settings: Settings, spec_name: str, project: str) -> Path:
    """Where the config file of one process lives (fixed names where a service insists)."""
    fixed = {"keystone": "keystone.conf", "placement-api": "placement.conf"}
    return settings.etc / project / fixed.get(spec_name, f"{spec_name}.conf")


def render_ini(sections: templates.Sections, ctx: dict[str, str]) -> str:
    """INI text of sections with every value formatted from ctx."""
    out = [f"# Written by stacktender testcloud for {ctx.get('service') or 'setup commands'}."]
    for section, values in sections.items():
        out.append(f"\n[{section}]")
        out.extend(f"{key} = {value.format_map(ctx)}" for key, value in values.items())
    return "\n".join(out) + "\n"


def merged(*layers: templates.Sections) -> templates.Sections:
    result: templates.Sections = {}
    for layer in layers:
        for section, values in layer.items():
            result.setdefault(section, {}).update(values)
    return result


def render_configs(settings: Settings) -> None:
    """Write every config file, paste file, WSGI entry and data directory of the cloud."""
    for sub in ("logs", "run", "wsgi", "data/locks", "data/glance/images", "data/nova/instances"):
        (settings.state_dir / sub).mkdir(parents=True, exist_ok=True)
    for sub in ("glance/staging", "glance/tasks", "neutron", "cinder", "keystone"):
        (settings.data / sub).mkdir(parents=True, exist_ok=True)
    for project in DATABASES:
        (settings.etc / project).mkdir(parents=True, exist_ok=True)
        # setup commands (db sync, nova-manage) get their own config and log file
        name = f"{project}-manage"
        sections = merged(templates.COMMON, templates.PROJECT_SECTIONS[project])
        _write(
            settings.etc / project / f"{name}.conf", render_ini(sections, settings.context(name))
        )
    _copy_paste_files(settings)
    for helper in sorted(RUNTIME_DIR.glob("*.py")):
        _write(settings.runtime / helper.name, helper.read_text())
    groups = dict(compute_groups(settings.compute_hosts))
    for spec in settings.services():
        sections = merged(
            templates.COMMON,
            templates.PROJECT_SECTIONS[spec.project],
            templates.SERVICE_SECTIONS.get(spec.name, {}),
        )
        if spec.name in groups:
            hosts = groups[spec.name]
            own = {"host": hosts[0], "state_path": f"{settings.data}/nova/{spec.name}"}
            sections = merged(sections, {"DEFAULT": own})
            sections["testcloud"] = {"hosts": ",".join(hosts)}
        ctx = settings.context(spec.name)
        _write(config_path(settings, spec.name, spec.project), render_ini(sections, ctx))
        if spec.kind == "wsgi":
            _write(settings.state_dir / "wsgi" / f"{wsgi_module(spec)}.py", wsgi_entry(spec, ctx))


def wsgi_module(spec: ServiceSpec) -> str:
    """Module name of a service's WSGI entry file (never shadows the service's package)."""
    return "tc_" + spec.name.replace("-", "_")


def wsgi_entry(spec: ServiceSpec, ctx: dict[str, str]) -> str:
    """A tiny module gunicorn loads: sets the config location, clears gunicorn's argv."""
    env = {}
    for pair in spec.config_env.format_map(ctx).split(";") if spec.config_env else []:
        if "=" in pair:
            key, _, value = pair.partition("=")
            env[key] = value
        else:  # a second file of the previous variable
            env[key] += ";" + pair
    argv = [a.format_map(ctx) for a in spec.argv] or [spec.name]
    return (
        f'"""{spec.name} for gunicorn (written by stacktender testcloud)."""\n'
        "import os\nimport sys\n\n"
        f"os.environ.update({env!r})\n"
        "# The service parses sys.argv with oslo.config: hide gunicorn's options from it.\n"
        f"sys.argv = {argv!r}\n\n"
        f"from {spec.wsgi_module} import application  # noqa: E402,F401\n"
    )


def _copy_paste_files(settings: Settings) -> None:
    shipped = settings.venv / "etc"
    for project, name in (
        ("nova", "api-paste.ini"),
        ("neutron", "api-paste.ini"),
        ("cinder", "api-paste.ini"),
        ("cinder", "resource_filters.json"),
        ("glance", "glance-api-paste.ini"),
    ):
        source = shipped / project / name
        if not source.exists():
            raise TestCloudError(f"{source} is missing: the {project} package did not install")
        shutil.copyfile(source, settings.etc / project / name)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
