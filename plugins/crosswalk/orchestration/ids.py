"""Names every part of the DAG bundle shares: DAG ids and the assets that tie flows together. A leaf:
it imports nothing of the orchestration."""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Asset

from crosswalk.config.models import AnyFeed, InboundFeed

START = datetime(2026, 1, 1, tzinfo=UTC)


def dag_id_for(feed: AnyFeed) -> str:
    return f"{feed.direction}_{feed.id.replace('-', '_')}"


def staged_asset(feed_id: str) -> Asset:
    """Updated by each successful run of an inbound feed; schedules feeds built from it ``on_arrival``."""
    return Asset(name=f"crosswalk-staged-{feed_id}", uri=f"crosswalk://staged/{feed_id}")


def published_asset(feed_id: str) -> Asset:
    """Updated by each successful run of a portal publication; schedules open data built from it."""
    return Asset(name=f"crosswalk-published-{feed_id}", uri=f"crosswalk://published/{feed_id}")


def review_asset(feed: InboundFeed) -> Asset:
    """Updated whenever a batch of ``feed`` is matched; schedules the feed's review DAG."""
    return Asset(name=f"crosswalk-review-{feed.id}", uri=f"crosswalk://review/{feed.id}")


AUDIT_DAG_ID = "crosswalk_audit"


RETENTION_DAG_ID = "crosswalk_retention"


CONFIG_ERRORS_DAG_ID = "crosswalk_config_errors"
