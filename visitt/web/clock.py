"""Times and durations as people read them: on the clinic's clock, in the reader's language.

The database and the wire keep instants in UTC; what a person reads is the clinic's local time
(``VISITT_TIMEZONE``, Europe/Oslo by default) written the way their language writes it (Babel's CLDR
data: ``4. desember 2026, 14:05`` in bokmål, ``December 4, 2026, 2:05 PM`` in English). A duration
is written in the largest whole unit that states it exactly ("2 weeks", not "20160 minutes"; "90
minutes", never a rounded "2 hours").
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time, get_datetime_format
from babel.units import format_unit

# CLDR's duration units, largest first, with their length in seconds
_UNITS = (("duration-week", 7 * 24 * 3600), ("duration-day", 24 * 3600), ("duration-hour", 3600),
          ("duration-minute", 60))


@lru_cache(maxsize=16)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def when(instant: dt.datetime, language: str, zone_name: str) -> str:
    """Date and time, CLDR's medium date with its short time: ``4. des. 2026, 14:05`` (nb), ``Dec 4, 2026,
    2:05 PM`` (en): the month named, so nobody reads 4 December as April 12."""
    date = format_date(instant.astimezone(zone(zone_name)), "medium", locale=language)
    pattern = str(get_datetime_format("medium", locale=language))  # "{1}, {0}": where the date and time go
    return pattern.replace("{1}", date).replace("{0}", time_of_day(instant, language, zone_name))


def day(instant: dt.datetime, language: str, zone_name: str) -> str:
    """The date in words: ``4. desember 2026`` (nb), ``December 4, 2026`` (en)."""
    return format_date(instant.astimezone(zone(zone_name)), "long", locale=language)


def time_of_day(instant: dt.datetime, language: str, zone_name: str) -> str:
    """The time: ``14:05`` (nb), ``2:05 PM`` (en)."""
    return format_time(instant, "short", tzinfo=zone(zone_name), locale=language)


def duration(span: dt.timedelta, language: str, length: Literal["long", "short"] = "long") -> str:
    """``2 uker``, ``1 døgn``, ``90 minutter``: the largest whole unit that states ``span`` exactly
    (whole minutes; a part minute is rounded up, so a wait is never understated). ``short``: ``90 min``."""
    seconds = max(60, -(-int(span.total_seconds()) // 60) * 60)
    unit, size = next((unit, size) for unit, size in _UNITS if seconds % size == 0)  # minutes at least
    return format_unit(seconds // size, unit, length=length, locale=language)


def wait(seconds: int, language: str) -> str:
    """How long to wait, in the reader's language: ``30 sekunder`` under a minute, else :func:`duration`."""
    if seconds < 60:
        return format_unit(max(1, seconds), "duration-second", length="long", locale=language)
    return duration(dt.timedelta(seconds=seconds), language)
