"""When a partner's drop is due, and whether it came: the pure half of late-file alerts.

A feed's ``expected`` says a drop is due by a local time on certain days, with a grace period. The watch DAG
(:mod:`crosswalk.orchestration.dag_arrivals`) runs at the deadline (due time plus grace, in the partner's time
zone, on those days) and asks :func:`late`: was a complete drop completed, or a batch received, since the start
of that day? Times are the outbox's modification times and the ledger's, never anything a file holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from crosswalk.config.models.feeds import DAYS, Expected


@dataclass(frozen=True)
class Window:
    """The day a drop was due: from local midnight to the deadline (due time plus grace), both aware."""

    opens: datetime
    due: datetime
    deadline: datetime


def watch_cron(expected: Expected) -> str:
    """The cron expression (in the feed's time zone) of each deadline: the due time plus the grace, on the days."""
    h, m = map(int, expected.by.split(":"))
    at = datetime.combine(datetime(2000, 1, 3), time(h, m)) + timedelta(minutes=expected.grace_minutes)
    shift = (at.date() - datetime(2000, 1, 3).date()).days  # a grace that runs past midnight moves the days on
    days = sorted(DAYS.index(d) for d in expected.days)
    cron_days = ",".join(str(((d + shift) % 7 + 1) % 7) for d in days)  # cron counts from Sunday = 0
    return f"{at.minute} {at.hour} * * {cron_days}"


def window(expected: Expected, at: datetime) -> Window:
    """The latest due day whose deadline is at or before ``at`` (an aware time)."""
    zone = ZoneInfo(expected.timezone)
    local = at.astimezone(zone)
    h, m = map(int, expected.by.split(":"))
    for back in range(8):
        day = local.date() - timedelta(days=back)
        due = datetime.combine(day, time(h, m), tzinfo=zone)
        deadline = due + timedelta(minutes=expected.grace_minutes)
        if DAYS[day.weekday()] in expected.days and deadline <= local:
            return Window(datetime.combine(day, time(0, 0), tzinfo=zone), due, deadline)
    raise ValueError("no due day in the week before")


def late(win: Window, drop_times: list[float], received_times: list[datetime]) -> bool:
    """No complete drop finished (by its files' times) and no batch received since the window opened."""
    opened = win.opens.timestamp()
    return not any(t >= opened for t in drop_times) and not any(r.timestamp() >= opened for r in received_times)


def summary(partner: str, pattern: str, expected: Expected, win: Window) -> str:
    return (
        f"{partner}: no {pattern} drop by {expected.by} {expected.timezone} on {win.due:%a %Y-%m-%d}"
        f" ({expected.grace_minutes} min grace); nothing received since {win.opens:%H:%M}"
    )
