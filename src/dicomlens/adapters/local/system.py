"""The real clock and id generator (used in every mode; tests inject fakes)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime


class SystemClock:
    """The wall clock, timezone-aware UTC."""

    def now(self) -> datetime:
        """The current time."""
        return datetime.now(UTC)


class RandomIds:
    """Job ids from the operating system's CSPRNG: 128 bits as 32 lowercase hex digits."""

    def new_id(self) -> str:
        """A fresh, unguessable id."""
        return secrets.token_hex(16)
