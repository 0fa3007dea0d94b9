"""Notifications to people: what a notice says, and how it is put to a webhook or an e-mail.

A notice carries names, ids, counts and our own one-line reasons, never a record's values (the same rule as
logs and audit events). Sending is best effort: a notice that cannot be delivered is logged (with the
endpoint's status and a one-line excerpt of its answer) and never fails the run it reports on; the audit trail
stays the record of what happened. The Airflow notifiers that deliver notices are in
:mod:`crosswalk.orchestration.notifiers`; this module is pure.
"""

from __future__ import annotations

import html
import json
import re
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass

from crosswalk.config.models import NotificationChannel
from crosswalk.errors import CrosswalkError

FAILURE, QUARANTINE, APPROVAL_NEEDED, LATE_FILE = "failure", "quarantine", "approval_needed", "late_file"
TITLES = {
    FAILURE: "a task failed",
    QUARANTINE: "a drop was quarantined",
    APPROVAL_NEEDED: "an approval is waiting",
    LATE_FILE: "an expected file has not arrived",
}
EXCERPT = 120  # characters of an endpoint's answer kept in the log


@dataclass(frozen=True)
class Notice:
    kind: str  # FAILURE | QUARANTINE | APPROVAL_NEEDED | LATE_FILE
    summary: str  # one line, no personal data
    feed_id: str | None = None
    partner: str | None = None
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None

    @property
    def title(self) -> str:
        return f"Crosswalk: {TITLES.get(self.kind, self.kind)}" + (f" ({self.partner})" if self.partner else "")


class WebhookRefused(CrosswalkError):
    """The endpoint answered, but not with 2xx: its status and the start of its answer, for the log."""

    def __init__(self, status: int, excerpt: str) -> None:
        self.status, self.excerpt = status, excerpt
        super().__init__(f"answered {status}: {excerpt or '(no body)'}")


def wanted(channel: NotificationChannel, notice: Notice) -> bool:
    """Whether ``channel`` asked for this kind of notice about this partner (no partner list: all)."""
    return notice.kind in channel.on and (not channel.partners or notice.partner in channel.partners)


def payload(notice: Notice, style: str) -> dict:
    """The JSON body for a webhook: ours in full, or the one line Slack's and Teams' webhooks show."""
    if style in ("slack", "teams"):
        where = " · ".join(x for x in (notice.dag_id, notice.task_id) if x)
        return {"text": f"*{notice.title}*\n{notice.summary}" + (f"\n{where}" if where else "")}
    return {"source": "crosswalk", **asdict(notice)}


def excerpt(body: bytes) -> str:
    """The first line of an answer, printable characters only, cut short: enough to tell a bad payload from a
    bad token, never a page."""
    text = body.decode("utf-8", errors="replace").strip().splitlines()
    line = re.sub(r"[^\x20-\x7e]", "?", text[0] if text else "")
    return line[:EXCERPT] + ("…" if len(line) > EXCERPT else "")


def post(url: str, token: str | None, body: dict, timeout: float = 10) -> int:
    """POST ``body`` as JSON; the status on 2xx, :class:`WebhookRefused` otherwise."""
    if not url.startswith(("https://", "http://")):
        raise ValueError("a webhook URL must be http(s)")
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310  (scheme checked above)
            if not 200 <= resp.status < 300:
                raise WebhookRefused(resp.status, excerpt(resp.read(4096)))
            return resp.status
    except urllib.error.HTTPError as exc:
        raise WebhookRefused(exc.code, excerpt(exc.read(4096) if exc.fp else b"")) from exc


def email_html(notice: Notice) -> str:
    """The e-mail's body: the notice, escaped, and where to look; nothing else (no log excerpt, no exception
    text, which could quote data)."""
    e = html.escape
    rows = [("What", notice.summary), ("Feed", notice.feed_id), ("Partner", notice.partner), ("DAG", notice.dag_id),
            ("Run", notice.run_id), ("Task", notice.task_id)]  # fmt: skip
    cells = "".join(f"<tr><th align='left'>{k}</th><td>{e(v)}</td></tr>" for k, v in rows if v)
    return (
        f"<p><strong>{e(notice.title)}</strong></p><table>{cells}</table>"
        "<p>The audit trail and the task log hold the details. Crosswalk never puts a record's values in a notice.</p>"
    )
