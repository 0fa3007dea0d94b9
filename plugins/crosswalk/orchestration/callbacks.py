"""The glue from tasks to the notifiers (:mod:`crosswalk.orchestration.notifiers`): a notice raised inside a task
(a quarantined drop, an approval waiting, a file that has not arrived) goes to each channel that asked for it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crosswalk.notify import Notice
from crosswalk.orchestration.notifiers import send

if TYPE_CHECKING:
    from crosswalk.config.loader import ProjectConfig


def notify(cfg: ProjectConfig, notice: Notice, context: Any = None) -> list[str]:
    channels = cfg.settings.notifications
    return send(channels, notice, context) if channels else []


def notify_about(
    cfg: ProjectConfig, kind: str, summary: str, task: Any, *, feed_id: str | None = None, partner: str | None = None
) -> list[str]:
    """:func:`notify` of a notice about one task of a run: ``task`` is an Airflow task instance or our
    run context, which both carry ``dag_id``, ``run_id`` and ``task_id``."""
    return notify(
        cfg,
        Notice(
            kind,
            summary,
            feed_id=feed_id,
            partner=partner,
            dag_id=getattr(task, "dag_id", None),
            run_id=getattr(task, "run_id", None),
            task_id=getattr(task, "task_id", None),
        ),
    )
