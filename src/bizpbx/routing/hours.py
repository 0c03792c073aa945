"""Business hours, in the site's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bizpbx.settings import WEEKDAYS, BusinessHours


def is_open(hours: BusinessHours, now: datetime, zone: ZoneInfo) -> bool:
    if now.tzinfo is None:
        raise ValueError("routing needs an aware time (with a time zone)")
    local = now.astimezone(zone)
    if local.date() in hours.closed_dates or WEEKDAYS[local.weekday()] not in hours.days:
        return False
    return hours.open <= local.time().replace(tzinfo=None) < hours.close
