"""When a drop is due and whether it came: deadlines in the partner's time zone (summer time included), the
watch's cron on the due days (a grace past midnight moves the day), and what counts as arrived."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crosswalk.arrivals import late, summary, watch_cron, window
from crosswalk.config.models.feeds import Expected


def test_the_watch_runs_at_the_due_time_plus_grace_on_the_due_days():
    assert watch_cron(Expected(by="09:00")) == "30 9 * * 1,2,3,4,5"
    assert watch_cron(Expected(by="23:50", grace_minutes=30, days=["fri", "sun"])) == "20 0 * * 6,1"
    assert watch_cron(Expected(by="06:15", grace_minutes=0, days=["sat", "sun"])) == "15 6 * * 6,0"


@pytest.mark.parametrize(
    ("at_utc", "due_local"),
    [
        (datetime(2026, 11, 27, 9, 31, tzinfo=UTC), "2026-11-27 09:00+00:00"),  # Friday, GMT, past the deadline
        (datetime(2026, 11, 27, 9, 29, tzinfo=UTC), "2026-11-26 09:00+00:00"),  # before it: the day before
        (datetime(2026, 11, 29, 12, 0, tzinfo=UTC), "2026-11-27 09:00+00:00"),  # Sunday: Friday's
        (datetime(2026, 7, 1, 8, 31, tzinfo=UTC), "2026-07-01 09:00+01:00"),  # BST: 09:30 local is 08:30 UTC
    ],
)
def test_the_window_is_the_latest_due_day_past_its_deadline(at_utc, due_local):
    win = window(Expected(by="09:00"), at_utc)
    assert win.due.isoformat(sep=" ", timespec="minutes") == due_local
    assert win.opens.hour == 0 and win.opens.date() == win.due.date()


def test_a_drop_or_a_batch_since_the_day_began_is_on_time():
    win = window(Expected(by="09:00"), datetime(2026, 11, 27, 10, 0, tzinfo=UTC))
    yesterday = datetime(2026, 11, 26, 23, 59, tzinfo=UTC).timestamp()
    this_morning = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    assert late(win, [], [])
    assert late(win, [yesterday], [])  # yesterday's drop is yesterday's
    assert not late(win, [this_morning.timestamp()], [])
    assert not late(win, [], [this_morning])  # taken in already (and perhaps removed by the partner)
    assert summary("northshire-council", "clients_*.csv", Expected(by="09:00"), win) == (
        "northshire-council: no clients_*.csv drop by 09:00 Europe/London on Fri 2026-11-27 (30 min grace);"
        " nothing received since 00:00"
    )


def test_an_unknown_time_zone_or_time_is_refused_in_our_words():
    with pytest.raises(ValueError, match="not a time zone"):
        Expected(by="09:00", timezone="Europe/Londn")
    with pytest.raises(ValueError):
        Expected(by="9am")
