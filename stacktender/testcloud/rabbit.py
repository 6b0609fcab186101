"""The testcloud's own RabbitMQ virtual host, managed through the management API."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import httpx

from stacktender.testcloud.errors import PrerequisiteMissing

__all__ = ["cap_notification_queues", "check_broker", "create_vhost", "delete_vhost"]


def _client(api_url: str) -> tuple[httpx.Client, str]:
    parts = urlsplit(api_url)
    base = f"{parts.scheme}://{parts.hostname}:{parts.port or 15672}"
    auth = (parts.username or "guest", parts.password or "guest")
    return httpx.Client(base_url=base, auth=auth, timeout=10), auth[0]


def _call(api_url: str, method: str, path: str, **kwargs: object) -> httpx.Response:
    client, _ = _client(api_url)
    try:
        with client:
            response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        raise PrerequisiteMissing(
            f"RabbitMQ management API at {client.base_url} is not reachable: {exc} "
            "(start RabbitMQ with its management plugin, e.g. scripts/ensure-services.sh)"
        ) from None
    if response.status_code in (401, 403):
        raise PrerequisiteMissing(
            f"RabbitMQ management API at {client.base_url} refused the login "
            f"({response.status_code})"
        )
    return response


def check_broker(api_url: str) -> None:
    """PrerequisiteMissing unless the management API answers."""
    _call(api_url, "GET", "/api/overview").raise_for_status()


def create_vhost(api_url: str, vhost: str) -> None:
    """Create the vhost (idempotent) and give the API user full rights on it."""
    _, user = _client(api_url)
    name = quote(vhost, safe="")
    _call(api_url, "PUT", f"/api/vhosts/{name}", json={}).raise_for_status()
    _call(
        api_url,
        "PUT",
        f"/api/permissions/{name}/{quote(user, safe='')}",
        json={"configure": ".*", "write": ".*", "read": ".*"},
    ).raise_for_status()


def cap_notification_queues(api_url: str, vhost: str, max_length: int) -> None:
    """Keep only the newest max_length messages in the notification queues: nothing
    consumes them unless a test or the metering module does."""
    _call(
        api_url,
        "PUT",
        f"/api/policies/{quote(vhost, safe='')}/testcloud-notifications",
        json={
            "pattern": r"^(versioned_)?notifications\.",
            "definition": {"max-length": max_length},
            "apply-to": "queues",
            "priority": 0,
        },
    ).raise_for_status()


def delete_vhost(api_url: str, vhost: str) -> None:
    """Delete the vhost and everything in it; absent is fine."""
    response = _call(api_url, "DELETE", f"/api/vhosts/{quote(vhost, safe='')}")
    if response.status_code != 404:
        response.raise_for_status()
