"""The metering tables, registered on the store's declarative ``Base``.

Alembic revision ``0002`` must build exactly these (the store's drift test checks it).
"""

from __future__ import annotations

from stacktender.store.models import Base  # noqa: F401
