"""Masking of secrets (passwords, tokens, transport URLs) in every output and log."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = ["MASK", "Redactor", "mask_url", "redact"]

MASK = "***"

# scheme://user:password@host -> scheme://user:***@host, for any URL in any text, including
# the extra ",user:password@host" members of an oslo.messaging multi-host transport URL
_URL_PASSWORD = re.compile(
    r"(?P<head>(?:[a-zA-Z][a-zA-Z0-9+.\-]*://|,)[^:/@\s,]*:)(?P<pw>[^@\s/]+)@"
)
# password=..., token: ... in free text (log lines of drivers, DSN keyword strings)
_KEYWORD = re.compile(
    r"(?P<key>\b(?:password|passwd|pwd|token|secret|api_key|x-auth-token)\b[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<value>[^\s\"',;&]+)",
    re.IGNORECASE,
)
SECRET_KEYS = frozenset({"password", "passwd", "token", "secret", "api_key", "auth_token"})


def mask_url(url: str) -> str:
    """Replace the password of a URL (and of any URL inside a string) with ***."""
    return _URL_PASSWORD.sub(lambda m: m.group("head") + MASK + "@", url)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask URL passwords, ``password=...`` pairs and each known secret in text."""
    text = mask_url(text)
    text = _KEYWORD.sub(lambda m: m.group("key") + MASK, text)
    for secret in sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class Redactor:
    """Collects the secrets found in configuration and masks them anywhere."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()

    def learn(self, value: Any, key: str = "") -> None:
        """Remember secrets found in value (URLs with passwords, secret-named keys)."""
        if isinstance(value, Mapping):
            for k, v in value.items():
                self.learn(v, str(k))
        elif isinstance(value, list | tuple):
            for v in value:
                self.learn(v, key)
        elif isinstance(value, str):
            if key.lower() in SECRET_KEYS:
                self.secrets.add(value)
            if "://" in value:
                try:
                    password = urlsplit(value).password
                except ValueError:
                    password = None
                if password:
                    self.secrets.add(password)

    def __call__(self, text: str) -> str:
        return redact(text, self.secrets)

    def masked(self, value: Any, key: str = "") -> Any:
        """A deep copy of value with secrets masked (for ``config show`` and JSON)."""
        if isinstance(value, Mapping):
            return {k: self.masked(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.masked(v, key) for v in value]
        if isinstance(value, str):
            return MASK if key.lower() in SECRET_KEYS else self(value)
        return value


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in every record it passes."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor(record.getMessage())
        record.args = ()
        return True
