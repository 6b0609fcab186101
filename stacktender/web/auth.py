"""Keystone token validation for the REST API, with keystoneauth and a short cache.

A request's ``X-Auth-Token`` is validated by asking Keystone itself
(``GET /v3/auth/tokens`` with ``X-Subject-Token``) with the API's own service
credentials from a clouds.yaml cloud, the way keystonemiddleware does it, without
its paste/oslo.config machinery. Answers are cached for a short time (never past the
token's expiry), so a busy client costs Keystone one validation a minute, not one per
request. Nothing here imports FastAPI: the app maps these exceptions to HTTP answers.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stacktender.errors import ConfigError, ServiceUnreachable, StacktenderError

__all__ = [
    "ADMIN_ROLE",
    "Caller",
    "Forbidden",
    "InvalidToken",
    "KeystoneAuth",
    "KeystoneUnavailable",
]

ADMIN_ROLE = "admin"
DEFAULT_TIMEOUT = 5.0
DEFAULT_CACHE_SECONDS = 60.0
NEGATIVE_CACHE_SECONDS = 5.0  # a refused token is asked about again soon (it may be new)
CACHE_SIZE = 4096
# Fernet and JWS tokens are URL-safe base64 text; anything else is refused unasked.
_TOKEN = re.compile(r"[A-Za-z0-9_\-.=+/]{1,8192}")
_PROJECT_ID = re.compile(r"[A-Za-z0-9_\-]{1,64}")


class InvalidToken(StacktenderError):
    """No token, or one Keystone does not know or that has expired (HTTP 401)."""


class Forbidden(StacktenderError):
    """A valid token that may not see what it asked for (HTTP 403)."""


class KeystoneUnavailable(ServiceUnreachable):
    """Keystone did not answer, timed out, failed or refused the API's own credentials
    (HTTP 503: the caller's token may well be good)."""


@dataclass(frozen=True)
class Caller:
    """Who a valid token belongs to and what it is scoped to."""

    user_id: str
    user_name: str | None
    project_id: str | None  # None: an unscoped or domain-scoped token
    project_name: str | None
    roles: frozenset[str]
    expires_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        """An admin sees every project."""
        return ADMIN_ROLE in self.roles

    def may_see(self, project_id: str) -> bool:
        """Whether this caller may read the usage and invoices of project_id."""
        return self.is_admin or (self.project_id is not None and self.project_id == project_id)


class KeystoneAuth:
    """Validates tokens against one Keystone with a keystoneauth session."""

    def __init__(
        self,
        session: Any,
        auth_url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session = session
        self.identity_url = _v3(auth_url)
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, Caller | None]] = OrderedDict()
        self._names: dict[str, str | None] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_cloud(
        cls, cloud: str, *, timeout: float = DEFAULT_TIMEOUT, **kwargs: Any
    ) -> KeystoneAuth:
        """Service credentials from a clouds.yaml cloud (a user with admin or service role)."""
        import openstack.config
        from openstack import exceptions

        try:
            region = openstack.config.OpenStackConfig().get_one(cloud=cloud, api_timeout=timeout)
            auth_url = region.config["auth"]["auth_url"]
            session = region.get_session()
        except (exceptions.ConfigException, KeyError) as exc:
            raise ConfigError(f"cloud {cloud}: {exc}") from None
        return cls(session, auth_url, timeout=timeout, **kwargs)

    @property
    def www_authenticate(self) -> str:
        """The ``WWW-Authenticate`` value of a 401: where to get a token."""
        return f'Keystone uri="{self.identity_url}"'

    def validate(self, token: str | None) -> Caller:
        """The caller a token belongs to; InvalidToken or KeystoneUnavailable otherwise."""
        if not token:
            raise InvalidToken("no X-Auth-Token: get one from Keystone")
        if not _TOKEN.fullmatch(token):
            raise InvalidToken("malformed token")
        key = hashlib.sha256(token.encode()).hexdigest()  # tokens are not kept in memory
        cached = self._cached(key)
        if cached is not None:
            if cached[1] is None:
                raise InvalidToken("invalid or expired token")
            return cached[1]
        caller = self._ask(token)
        self._remember(key, caller)
        if caller is None:
            raise InvalidToken("invalid or expired token")
        return caller

    def project_name(self, project_id: str) -> str | None:
        """A project's name (None when Keystone has no such project); cached for good."""
        with self._lock:
            if project_id in self._names:
                return self._names[project_id]
        if not _PROJECT_ID.fullmatch(project_id):
            return None
        response = self._get(f"{self.identity_url}/projects/{project_id}", {})
        if response.status_code == 404:
            name = None
        elif response.status_code == 200:
            name = response.json().get("project", {}).get("name")
        else:
            raise KeystoneUnavailable(f"keystone answered {response.status_code} for a project")
        with self._lock:
            self._names[project_id] = name
        return name

    # -- internals -----------------------------------------------------------------------
    def _cached(self, key: str) -> tuple[float, Caller | None] | None:
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            if entry[0] <= self._clock():
                del self._cache[key]
                return None
            self._cache.move_to_end(key)
            return entry

    def _remember(self, key: str, caller: Caller | None) -> None:
        seconds = self.cache_seconds if caller is not None else NEGATIVE_CACHE_SECONDS
        if caller is not None and caller.expires_at is not None:
            left = (caller.expires_at - datetime.now(UTC)).total_seconds()
            seconds = min(seconds, max(left, 0.0))
        with self._lock:
            self._cache[key] = (self._clock() + seconds, caller)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)

    def _ask(self, token: str) -> Caller | None:
        response = self._get(
            f"{self.identity_url}/auth/tokens?nocatalog", {"X-Subject-Token": token}
        )
        # 404: unknown or expired; 400/401 for the subject token: it is not one
        if response.status_code in (400, 401, 404):
            return None
        if response.status_code != 200:
            raise KeystoneUnavailable(
                f"keystone at {self.identity_url} answered {response.status_code} "
                "to a token validation"
            )
        return _caller(response.json().get("token") or {})

    def _get(self, url: str, headers: dict[str, str]) -> Any:
        from keystoneauth1 import exceptions as ks

        try:
            return self.session.get(
                url, headers=headers, raise_exc=False, timeout=self.timeout, authenticated=True
            )
        except ks.Unauthorized:
            raise KeystoneUnavailable(
                f"keystone at {self.identity_url} refused the API's service credentials"
            ) from None
        except ks.ClientException as exc:  # connection refused, timeout, discovery, 5xx
            text = " ".join(str(exc).split())[:300] or type(exc).__name__
            raise KeystoneUnavailable(f"keystone at {self.identity_url}: {text}") from None


def _caller(token: dict[str, Any]) -> Caller:
    user = token.get("user") or {}
    project = token.get("project") or {}
    expires = token.get("expires_at")
    return Caller(
        user_id=str(user.get("id", "")),
        user_name=user.get("name"),
        project_id=project.get("id"),
        project_name=project.get("name"),
        roles=frozenset(r["name"] for r in token.get("roles") or [] if "name" in r),
        expires_at=datetime.fromisoformat(expires.replace("Z", "+00:00")) if expires else None,
    )


def _v3(auth_url: str) -> str:
    url = auth_url.rstrip("/")
    return url if url.endswith("/v3") else f"{url}/v3"
