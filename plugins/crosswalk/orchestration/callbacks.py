"""Airflow callbacks and the glue from tasks to :mod:`crosswalk.notify`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from crosswalk.errors import CrosswalkError
from crosswalk.notify import FAILURE, Notice, send
from crosswalk.orchestration.connections import http_endpoint

if TYPE_CHECKING:
    from crosswalk.config.loader import ProjectConfig

log = logging.getLogger(__name__)


def notify(cfg: ProjectConfig, notice: Notice) -> list[str]:
    channels = cfg.settings.notifications
    return send(channels, notice, http_endpoint) if channels else []


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


def _feed_of(cfg: ProjectConfig, dag_id: str) -> tuple[str | None, str | None]:
    from crosswalk.orchestration.ids import dag_id_for

    for feed in cfg.feeds.values():
        if dag_id_for(feed) == dag_id:
            return feed.id, feed.partner
    return None, None


def _reason(exc: BaseException | None) -> str:
    """Our errors carry one-line reasons without personal data (Airflow may wrap them: follow the
    chain); anything else is named, not quoted."""
    seen = exc
    for _ in range(5):
        if seen is None:
            break
        if isinstance(seen, CrosswalkError):
            return (str(seen).splitlines() or [type(seen).__name__])[0][:300]
        seen = seen.__cause__ or seen.__context__
    return type(exc).__name__ if exc is not None else "unknown error"


def on_task_failure(context: Any) -> None:
    """A task failed for good (retries spent): tell whoever asked for failures."""
    ti = context.get("ti") or context.get("task_instance")
    exc = context.get("exception")
    reason = _reason(exc)
    from crosswalk.orchestration.resources import project_config

    cfg = project_config()
    dag_id = getattr(ti, "dag_id", None)
    feed_id, partner = _feed_of(cfg, dag_id) if dag_id else (None, None)
    summary = f"{dag_id}.{getattr(ti, 'task_id', '?')} failed: {reason}"
    notify_about(cfg, FAILURE, summary, ti, feed_id=feed_id, partner=partner)
