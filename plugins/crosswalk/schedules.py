"""Schedules that start manual and become automated: the graduation gate.

A feed's config asks for a schedule (``manual``, a cron expression or preset, or ``on_arrival``).
Anything but ``manual`` takes effect only when

- every agreement that governs the feed, in the version in force, records automation approval
  (who and when, signed off by IG), and
- the feed has at least ``graduation.manual_runs`` successful manual runs (dry runs do not count).

The gate is decided at run time, never while DAG files are parsed (parsing reads config only): the DAG
carries the schedule its config asks for, and the first task of each scheduled run asks :func:`decide`
(with the run history from the audit trail); a run of a feed that has not graduated is held there
(``run.held``, with what is missing). Manual triggers always run. :func:`as_configured` is what parsing
knows (the agreements' approvals, the number of runs needed) for the DAG's description, and
``crosswalk check`` prints the full decision. Pure logic: no Airflow, no database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from crosswalk.config.loader import ProjectConfig
from crosswalk.config.models import MANUAL, ON_ARRIVAL, AnyFeed, InboundFeed
from crosswalk.config.models.agreements import Agreement


@dataclass(frozen=True)
class ScheduleDecision:
    feed_id: str
    requested: str
    effective: str
    missing: list[str] = field(default_factory=list)
    runs_needed: int | None = None  # set when the run history was not read (at parse time): runs decide

    @property
    def held(self) -> bool:
        """Config asks for automation, but the gate keeps the feed manual."""
        return self.requested != self.effective

    @property
    def on_arrival(self) -> bool:
        return self.effective == ON_ARRIVAL

    def summary(self) -> str:
        """One line for the DAG description, ``crosswalk check`` and the audit trail."""
        if self.requested == MANUAL:
            return "manual: runs only when triggered"
        if self.runs_needed is not None:
            needs = "; ".join([f"{self.runs_needed} successful manual run(s)", *self.missing])
            return (
                f"{self.requested} once graduated ({needs}): each scheduled run's first task checks, and holds the"
                " run until then; manual triggers always run"
            )
        if not self.held:
            return f"{self.effective}: graduated from manual"
        return f"held at manual (config asks for {self.requested}): " + "; ".join(self.missing)


def governing_agreements(cfg: ProjectConfig, feed: AnyFeed, today: date) -> tuple[list[Agreement], list[str]]:
    """The agreement versions in force today that govern ``feed``, and what is missing if none does.

    An outbound feed, portal or open-data publication names its agreement. An inbound feed is
    governed by every agreement under which its partner provides the feed's dataset.
    """
    if isinstance(feed, InboundFeed):
        found = [
            v
            for h in cfg.agreements.values()
            if (v := h.in_force(today)) is not None and v.provider == feed.partner and feed.schema_id in v.datasets
        ]
        if not found:
            return [], [f"no agreement in force has {feed.partner} providing {feed.schema_id}"]
        return found, []
    history = cfg.agreements.get(feed.agreement)
    current = history.in_force(today) if history is not None else None
    if current is None:
        return [], [f"agreement {feed.agreement} has no version in force"]
    return [current], []


def decide(
    cfg: ProjectConfig, feed: AnyFeed, manual_runs: int | None, today: date, *, why_unknown: str = ""
) -> ScheduleDecision:
    """Whether ``feed`` may run on its configured schedule.

    ``manual_runs`` is the count of successful manual runs, or None when it could not be read
    (then the feed stays manual: the gate fails closed).
    """
    if feed.schedule == MANUAL:
        return ScheduleDecision(feed.id, MANUAL, MANUAL)
    agreements, missing = governing_agreements(cfg, feed, today)
    for a in agreements:
        if not a.automation.approved:
            missing.append(f"agreement {a.ref} records no automation approval")
    need = cfg.settings.graduation.manual_runs
    if manual_runs is None:
        missing.append(f"successful manual runs unknown ({why_unknown or 'run history not read'}); {need} needed")
    elif manual_runs < need:
        missing.append(f"{manual_runs} of {need} successful manual runs")
    effective = MANUAL if missing else feed.schedule
    return ScheduleDecision(feed.id, feed.schedule, effective, missing)


def automation_evidence(cfg: ProjectConfig, feed: AnyFeed, today: date) -> list[str]:
    """Who approved automation, for the audit trail of a scheduled run (``ref: by on``)."""
    agreements, _ = governing_agreements(cfg, feed, today)
    return [f"{a.ref}: {a.automation.by} on {a.automation.on}" for a in agreements if a.automation.approved]


def as_configured(cfg: ProjectConfig, feed: AnyFeed, today: date) -> ScheduleDecision:
    """What parsing may know of the gate (config only): the schedule asked for, which Airflow is given, and
    what config says is missing; the run count is left to each run (:func:`decide`)."""
    if feed.schedule == MANUAL:
        return ScheduleDecision(feed.id, MANUAL, MANUAL)
    agreements, missing = governing_agreements(cfg, feed, today)
    missing += [f"agreement {a.ref} records no automation approval" for a in agreements if not a.automation.approved]
    return ScheduleDecision(feed.id, feed.schedule, feed.schedule, missing, cfg.settings.graduation.manual_runs)
