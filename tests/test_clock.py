"""Times and durations as people read them: the clinic's clock, the reader's language, whole units."""

from __future__ import annotations

import datetime as dt

import pytest

from visitt.web import clock

WINTER = dt.datetime(2026, 12, 4, 13, 5, tzinfo=dt.UTC)  # 14:05 in Oslo (CET, UTC+1)
SUMMER = dt.datetime(2026, 6, 4, 13, 5, tzinfo=dt.UTC)  # 15:05 in Oslo (CEST, UTC+2)


@pytest.mark.parametrize(("minutes", "language", "written"), [
    (14 * 24 * 60, "nb", "2 uker"),  # the demo's link window, once "20160 minutter"
    (14 * 24 * 60, "en", "2 weeks"),
    (24 * 60, "nn", "1 døgn"),
    (4 * 60, "pl", "4 godziny"),
    (90, "nb", "90 minutter"),  # never rounded to "2 timer"
    (15, "en", "15 minutes"),
    (1, "en", "1 minute"),
    (0.25, "en", "1 minute"),  # a part minute is rounded up: a wait is never understated
])
def test_a_duration_in_its_largest_exact_unit(minutes: float, language: str, written: str) -> None:
    assert clock.duration(dt.timedelta(minutes=minutes), language) == written


def test_instants_on_the_clinic_clock_in_the_readers_language() -> None:
    assert clock.when(WINTER, "nb", "Europe/Oslo") == "4. des. 2026, 14:05"
    assert clock.when(SUMMER, "nb", "Europe/Oslo") == "4. juni 2026, 15:05"
    assert clock.when(WINTER, "en", "Europe/Oslo") == "Dec 4, 2026, 2:05\u202fPM"
    assert clock.day(WINTER, "nb", "Europe/Oslo") == "4. desember 2026"
    assert clock.day(WINTER, "pl", "Europe/Oslo") == "4 grudnia 2026"
    assert clock.time_of_day(WINTER, "nn", "Europe/Oslo") == "14:05"
    assert clock.time_of_day(WINTER, "nb", "UTC") == "13:05"  # another clinic's zone
    # late on a day in UTC is the next day in Oslo
    assert clock.day(dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC), "en", "Europe/Oslo") == "January 1, 2027"
