"""Notices the Airflow way: every channel in ``notifications`` is an Airflow notifier (``BaseNotifier``).

So a DAG's ``on_failure_callback`` (and anyone's ``notifiers=``) takes ours beside Airflow's own: a webhook (our
JSON, or Slack's and Teams' one line), e-mail through the SMTP provider's :class:`SmtpNotifier`, or any notifier
named by import path. The notices raised inside a task (a quarantined drop, an approval waiting, a file that has
not arrived) go through the same objects (:func:`send`). Building one reads configuration only: no connection
is looked up until a notice is sent, so the DAG files stay quick to parse.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import asdict
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier

from crosswalk.config.models import NotificationChannel
from crosswalk.errors import CrosswalkError
from crosswalk.notify import FAILURE, Notice, WebhookRefused, email_html, payload, post, wanted

log = logging.getLogger(__name__)


class CrosswalkNotifier(BaseNotifier):
    """A notice for one channel. As a callback it reports the task that failed; :meth:`deliver` sends any
    notice. Never raises: a notice that cannot be delivered is logged and the run goes on."""

    def __init__(self, channel_id: str, *, feed_id: str | None = None, partner: str | None = None) -> None:
        super().__init__()
        self.channel_id, self.feed_id, self.partner = channel_id, feed_id, partner

    def notify(self, context: Any) -> None:
        self.deliver(failure_notice(context, self.feed_id, self.partner), context)

    def deliver(self, notice: Notice, context: Any = None) -> bool:
        try:
            self._send(notice, context or {})
        except WebhookRefused as exc:
            log.warning("notification %s to %s not delivered: %s", notice.kind, self.channel_id, exc)
            return False
        except (OSError, ValueError, CrosswalkError) as exc:
            log.warning("notification %s to %s not delivered: %s", notice.kind, self.channel_id, type(exc).__name__)
            return False
        log.info("notification %s sent to %s", notice.kind, self.channel_id)
        return True

    def _send(self, notice: Notice, context: Any) -> None:
        raise NotImplementedError


class WebhookNotifier(CrosswalkNotifier):
    """POSTs the notice to the URL in an Airflow connection (``host``; bearer token in ``password``)."""

    def __init__(self, channel_id: str, conn_id: str, style: str = "crosswalk", **kw: Any) -> None:
        super().__init__(channel_id, **kw)
        self.conn_id, self.style = conn_id, style

    def _send(self, notice: Notice, context: Any) -> None:
        from crosswalk.orchestration.connections import http_endpoint

        url, token = http_endpoint(self.conn_id)
        post(url, token, payload(notice, self.style))


class EmailNotifier(CrosswalkNotifier):
    """E-mails the notice through Airflow's SMTP provider (its connection and :class:`SmtpNotifier`), with our
    own subject and body: never Airflow's default template, which quotes the exception."""

    def __init__(self, channel_id: str, to: list[str], smtp_conn_id: str, from_email: str | None, **kw: Any) -> None:
        super().__init__(channel_id, **kw)
        self.to, self.smtp_conn_id, self.from_email = list(to), smtp_conn_id, from_email

    def _send(self, notice: Notice, context: Any) -> None:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        smtp = SmtpNotifier(
            from_email=self.from_email, to=self.to, subject=notice.title, html_content=email_html(notice),
            smtp_conn_id=self.smtp_conn_id,
        )  # fmt: skip
        try:
            smtp.notify({})
        except Exception as exc:  # smtplib and the hook raise many kinds; the notice must not fail the run
            raise OSError(f"SMTP: {type(exc).__name__}") from exc


class PluggedIn(CrosswalkNotifier):
    """Any Airflow notifier, by import path: it is called as Airflow calls a notifier, with the task's context
    and ``crosswalk_notice`` (the notice's fields) for its templates."""

    def __init__(self, channel_id: str, classpath: str, kwargs: dict[str, Any], **kw: Any) -> None:
        super().__init__(channel_id, **kw)
        module, _, name = classpath.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        if not (isinstance(cls, type) and issubclass(cls, BaseNotifier)):
            raise TypeError(f"{classpath} is not an Airflow notifier (a BaseNotifier subclass)")
        self.inner = cls(**kwargs)

    def _send(self, notice: Notice, context: Any) -> None:
        self.inner({**dict(context), "crosswalk_notice": asdict(notice)})


def notifier_for(channel: NotificationChannel, *, feed_id: str | None = None, partner: str | None = None):
    kw = {"feed_id": feed_id, "partner": partner}
    if channel.webhook is not None:
        return WebhookNotifier(channel.id, channel.webhook.conn_id, channel.webhook.style, **kw)
    if channel.email is not None:
        e = channel.email
        return EmailNotifier(channel.id, e.to, e.smtp_conn_id, e.from_email, **kw)
    assert channel.notifier is not None  # the model requires exactly one
    return PluggedIn(channel.id, channel.notifier.classpath, channel.notifier.kwargs, **kw)


def notifier_problems(channels: list[NotificationChannel]) -> list:
    """A notifier named by import path must import and be an Airflow notifier: the DAG files build it."""
    from crosswalk.errors import ConfigError

    problems = []
    for channel in channels:
        if channel.notifier is None:
            continue
        try:
            notifier_for(channel)
        except (ImportError, AttributeError, TypeError, ValueError) as exc:
            problems.append(ConfigError("crosswalk.yaml", f"notifications.{channel.id}.notifier", f"{exc}"))
    return problems


def failure_callbacks(channels: list[NotificationChannel], feed_id: str | None, partner: str | None) -> list:
    """The notifiers a DAG's ``on_failure_callback`` gets: each channel that wants failures about its partner."""
    probe = Notice(FAILURE, "", partner=partner)
    return [notifier_for(c, feed_id=feed_id, partner=partner) for c in channels if wanted(c, probe)]


def send(channels: list[NotificationChannel], notice: Notice, context: Any = None) -> list[str]:
    """Deliver ``notice`` to every channel that wants it; the ids of those it reached."""
    return [
        c.id
        for c in channels
        if wanted(c, notice)
        and notifier_for(c, feed_id=notice.feed_id, partner=notice.partner).deliver(notice, context)
    ]


def failure_notice(context: Any, feed_id: str | None, partner: str | None) -> Notice:
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", None)
    summary = f"{dag_id}.{getattr(ti, 'task_id', '?')} failed: {_reason(context.get('exception'))}"
    return Notice(
        FAILURE, summary, feed_id=feed_id, partner=partner, dag_id=dag_id, run_id=getattr(ti, "run_id", None),
        task_id=getattr(ti, "task_id", None),
    )  # fmt: skip


def _reason(exc: BaseException | None) -> str:
    """Our errors carry one-line reasons without personal data (Airflow may wrap them: follow the chain);
    anything else is named, not quoted."""
    seen = exc
    for _ in range(5):
        if seen is None:
            break
        if isinstance(seen, CrosswalkError):
            return (str(seen).splitlines() or [type(seen).__name__])[0][:300]
        seen = seen.__cause__ or seen.__context__
    return type(exc).__name__ if exc is not None else "unknown error"
