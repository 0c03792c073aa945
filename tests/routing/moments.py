"""Moments in the demo site's time zone, for business hours."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

MOSCOW = ZoneInfo("Europe/Moscow")
# A Wednesday: inside the demo site's business hours, and outside them.
WEDNESDAY_MORNING = datetime(2026, 11, 25, 10, 0, tzinfo=MOSCOW)
WEDNESDAY_EVENING = datetime(2026, 11, 25, 19, 0, tzinfo=MOSCOW)
SATURDAY_MORNING = datetime(2026, 11, 28, 10, 0, tzinfo=MOSCOW)
