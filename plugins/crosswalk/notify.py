"""Notifications to people: a webhook per team or partner, on failure, quarantine and approval needed.

A notice carries names, ids, counts and our own one-line reasons, never a record's values (the same
rule as logs and audit events). Sending is best effort: a notice that cannot be delivered is logged
and never fails the run it reports on; the audit trail stays the record of what happened.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass

from crosswalk.config.models import NotificationChannel
from crosswalk.errors import CrosswalkError

log = logging.getLogger(__name__)

FAILURE, QUARANTINE, APPROVAL_NEEDED = "failure", "quarantine", "approval_needed"


@dataclass(frozen=True)
class Notice:
    kind: str  # FAILURE | QUARANTINE | APPROVAL_NEEDED
    summary: str  # one line, no personal data
    feed_id: str | None = None
    partner: str | None = None
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None


def wanted(channel: NotificationChannel, notice: Notice) -> bool:
    """Whether ``channel`` asked for this kind of notice about this partner (no partner list: all)."""
    return notice.kind in channel.on and (not channel.partners or notice.partner in channel.partners)


def post(url: str, token: str | None, notice: Notice, timeout: float = 10) -> None:
    body = json.dumps({"source": "crosswalk", **asdict(notice)}).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if not url.startswith(("https://", "http://")):
        raise ValueError("a webhook URL must be http(s)")
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310  (scheme checked)
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
        if resp.status >= 300:
            raise urllib.error.HTTPError(url, resp.status, "unexpected status", resp.headers, None)


def send(
    channels: list[NotificationChannel], notice: Notice, endpoint: Callable[[str], tuple[str, str | None]]
) -> list[str]:
    """Post ``notice`` to every channel that wants it; return the ids of those it reached.

    ``endpoint(conn_id)`` gives the webhook URL and token (from an Airflow connection)."""
    reached = []
    for channel in channels:
        if not wanted(channel, notice):
            continue
        try:
            url, token = endpoint(channel.webhook.conn_id)
            post(url, token, notice)
        except (OSError, ValueError, CrosswalkError) as exc:  # a notice never fails the run it reports on
            log.warning("notification %s to %s not delivered: %s", notice.kind, channel.id, type(exc).__name__)
            continue
        reached.append(channel.id)
    if reached:
        log.info("notification %s sent to %s", notice.kind, ", ".join(reached))
    return reached
