"""Per-patient date shifting for Retain Longitudinal Temporal Information with Modified
Dates (PS3.15 E.3.6): every date of one patient moves back by the same number of days,
so intervals are kept while the real dates are not.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac


def patient_offset_days(patient_key: str, secret: bytes, *, max_days: int) -> int:
    """A keyed offset in ``[1, max_days]`` days for one patient."""
    digest = hmac.new(secret, b"date:" + patient_key.encode("utf-8"), hashlib.sha256).digest()
    return 1 + int.from_bytes(digest[:8], "big") % max(max_days, 1)


def shift_date(value: str, days: int) -> str | None:
    """A DA value (``YYYYMMDD``) moved back by ``days``; None when it is not a full date."""
    text = value.strip()
    try:
        date = dt.datetime.strptime(text[:8], "%Y%m%d").date()
    except ValueError:
        return None
    if len(text) != 8:
        return None
    try:
        return (date - dt.timedelta(days=days)).strftime("%Y%m%d")
    except OverflowError:
        return None


def shift_datetime(value: str, days: int) -> str | None:
    """A DT value with its date part moved back by ``days`` (time and offset kept)."""
    text = value.strip()
    if len(text) < 8:
        return None
    shifted = shift_date(text[:8], days)
    return None if shifted is None else shifted + text[8:]
