"""Generate one DAG per feed in ``config/feeds/``, a review DAG per matched feed, and the housekeeping DAGs.

Parse-time work is limited to reading the YAML config: no connections, no database, no heavy imports.
Each kind of flow is built by its own module (``dag_inbound``, ``dag_outbound``, ...). A feed file with a
problem is left out and shown as an import error naming it; a problem elsewhere in the config stops all.
"""

from __future__ import annotations

from datetime import date

from airflow.sdk import DAG

from crosswalk import logsafety
from crosswalk.config.loader import ProjectConfig, load_config
from crosswalk.config.models import InboundFeed, OutboundFeed, PortalFeed
from crosswalk.errors import ConfigErrors
from crosswalk.orchestration.dag_arrivals import arrival_watch_dag
from crosswalk.orchestration.dag_housekeeping import audit_dag, retention_dag
from crosswalk.orchestration.dag_inbound import inbound_dag
from crosswalk.orchestration.dag_open_data import open_data_dag
from crosswalk.orchestration.dag_outbound import outbound_dag
from crosswalk.orchestration.dag_portal import portal_dag
from crosswalk.orchestration.dag_review import review_dag
from crosswalk.orchestration.ids import CONFIG_ERRORS_DAG_ID, START
from crosswalk.schedules import as_configured

# Every process that loads our DAGs (DAG processor, task runners) gets the log safety net.
logsafety.install()


class _BrokenFeeds(DAG):
    """Stands for the feed files left out: refused when Airflow validates it, so Airflow lists an import
    error naming each file and problem (as ``crosswalk check`` words it), while every other DAG loads."""

    def validate(self) -> None:
        raise ConfigErrors(self.problems)  # type: ignore[attr-defined]


def _broken_feeds_dag(problems: list) -> DAG:
    broken = _BrokenFeeds(dag_id=CONFIG_ERRORS_DAG_ID, schedule=None, start_date=START, catchup=False)
    broken.problems = problems  # type: ignore[attr-defined]
    return broken


def dags_from_config(cfg: ProjectConfig | None = None) -> dict[str, DAG]:
    """Every feed's DAG, a review DAG per matching feed, and the audit DAG, by dag_id (for a DAG file).
    A feed file with a problem is left out, reported as an import error; the other DAGs load."""
    cfg = cfg or load_config(check_descriptors=False, isolate_feeds=True)
    today = date.today()
    out: dict[str, DAG] = {}
    for feed in cfg.feeds.values():
        decision = as_configured(cfg, feed, today)  # config only: the run history is each run's to read
        if isinstance(feed, InboundFeed):
            d = inbound_dag(feed, cfg, decision)
        elif isinstance(feed, OutboundFeed):
            d = outbound_dag(feed, cfg, decision)
        elif isinstance(feed, PortalFeed):
            d = portal_dag(feed, cfg, decision)
        else:
            d = open_data_dag(feed, cfg, decision)
        out[d.dag_id] = d
        if isinstance(feed, InboundFeed) and feed.matching is not None:
            r = review_dag(feed, cfg)
            out[r.dag_id] = r
        if isinstance(feed, InboundFeed) and feed.expected is not None:
            w = arrival_watch_dag(feed, cfg)
            out[w.dag_id] = w
    audit = audit_dag(cfg)
    out[audit.dag_id] = audit
    retention = retention_dag(cfg)
    out[retention.dag_id] = retention
    if cfg.broken_feeds:
        out[CONFIG_ERRORS_DAG_ID] = _broken_feeds_dag(cfg.broken_feeds)
    return out
