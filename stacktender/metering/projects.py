"""Finding a project by name or id in Keystone, for invoices asked for by project name."""

from __future__ import annotations

from dataclasses import dataclass

from stacktender.errors import ConfigError, ServiceUnreachable, StacktenderError

__all__ = ["ProjectRef", "UnknownProjectError", "resolve_project"]

DEFAULT_TIMEOUT = 10.0


class UnknownProjectError(StacktenderError):
    """No project of that name or id in the cloud's Keystone."""


@dataclass(frozen=True)
class ProjectRef:
    """A project's id and, when Keystone was asked, its name."""

    id: str
    name: str | None = None


def resolve_project(
    cloud: str | None, name_or_id: str, timeout: float = DEFAULT_TIMEOUT
) -> ProjectRef:
    """The project named (or with the id) name_or_id; without a cloud, name_or_id is the id."""
    if not cloud:
        return ProjectRef(name_or_id)
    import openstack
    from keystoneauth1 import exceptions as ks

    try:
        conn = openstack.connect(cloud=cloud, api_timeout=timeout)
    except openstack.exceptions.ConfigException as exc:
        raise ConfigError(f"cloud {cloud}: {exc}") from None
    try:
        project = conn.identity.find_project(name_or_id, ignore_missing=True)  # type: ignore[union-attr]
    except openstack.exceptions.DuplicateResource:
        raise UnknownProjectError(
            f"more than one project named {name_or_id!r} in cloud {cloud}: give its id"
        ) from None
    except (ks.ConnectFailure, ks.ConnectTimeout, ks.DiscoveryFailure) as exc:
        raise ServiceUnreachable(f"keystone of cloud {cloud}: {_one_line(exc)}") from None
    except openstack.exceptions.SDKException as exc:
        raise ServiceUnreachable(f"keystone of cloud {cloud}: {_one_line(exc)}") from None
    finally:
        conn.close()
    if project is None:
        raise UnknownProjectError(f"no project {name_or_id!r} in cloud {cloud}")
    return ProjectRef(project.id, project.name)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__
