"""A time zone's POSIX TZ rule (``MSK-3``), as FreeSWITCH's timezones.conf wants it.

The dialplan's business-hours conditions name the site's zone; FreeSWITCH
knows zones only from timezones.conf, as POSIX rules. The rule is the footer
of the zone's TZif file (version 2 and later), read from the same tz
database Python uses.
"""

from __future__ import annotations

import zoneinfo
from importlib import resources
from pathlib import Path


class TimeZoneError(ValueError):
    pass


def posix_rule(zone: str) -> str:
    data = _tzif(zone)
    if not data.startswith(b"TZif") or data[4:5] not in (b"2", b"3", b"4"):
        raise TimeZoneError(f"time zone {zone}: its tz database file has no POSIX rule (TZif version 1)")
    footer = data.rstrip(b"\n").rsplit(b"\n", 1)[-1].decode("ascii")
    if not footer:
        raise TimeZoneError(f"time zone {zone}: no POSIX rule in its tz database file")
    return footer


def _tzif(zone: str) -> bytes:
    for directory in zoneinfo.TZPATH:
        candidate = Path(directory) / zone
        if candidate.is_file():
            return candidate.read_bytes()
    try:
        return resources.files("tzdata.zoneinfo").joinpath(*zone.split("/")).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, IsADirectoryError):
        raise TimeZoneError(f"time zone {zone}: not found in the tz database ({', '.join(zoneinfo.TZPATH)})") from None
