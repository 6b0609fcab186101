"""Import httpx without its command-line client.

httpx's ``__init__`` imports ``httpx._main`` (rich, pygments, click) whenever rich is
installed, as it is wherever python-openstackclient is: about 0.4 s of every process's
start-up for a tool we never use. Marking that module absent makes httpx fall back to its
stub ``main``; everything else in httpx is unaffected.
"""

from __future__ import annotations

import sys
from types import ModuleType


def import_httpx() -> ModuleType:
    """httpx, imported without ``httpx._main``."""
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    import httpx

    return httpx
