"""Notices to a real local webhook: who gets what, with the token, and a dead webhook never fails a run."""

from __future__ import annotations

import pytest

from crosswalk.config.models import NotificationChannel
from crosswalk.notify import APPROVAL_NEEDED, FAILURE, QUARANTINE, Notice, send
from tests.support.webhook import Webhook


@pytest.fixture
def hook():
    h = Webhook()
    yield h
    h.close()


def _channel(**kw) -> NotificationChannel:
    return NotificationChannel.model_validate({"id": "ops", "webhook": {"conn_id": "hook"}, **kw})


def test_a_channel_gets_only_the_kinds_and_partners_it_asked_for(hook):
    channels = [
        _channel(on=["failure", "quarantine", "approval_needed"]),
        _channel(id="council-it", on=["quarantine"], partners=["northshire-council"]),
    ]
    endpoint = {"hook": (hook.url, "s3cret")}.get
    assert send(channels, Notice(QUARANTINE, "q", partner="northshire-council"), endpoint) == ["ops", "council-it"]
    assert send(channels, Notice(QUARANTINE, "q", partner="nhs-northshire"), endpoint) == ["ops"]
    assert send(channels, Notice(FAILURE, "f", partner="northshire-council"), endpoint) == ["ops"]
    assert send([channels[1]], Notice(APPROVAL_NEEDED, "a"), endpoint) == []
    assert [r["kind"] for r in hook.received] == ["quarantine", "quarantine", "quarantine", "failure"]
    assert hook.received[0] == {
        "source": "crosswalk",
        "kind": "quarantine",
        "summary": "q",
        "feed_id": None,
        "partner": "northshire-council",
        "dag_id": None,
        "run_id": None,
        "task_id": None,
    }
    assert set(hook.auth) == {"Bearer s3cret"}


def test_an_unreachable_or_refusing_webhook_is_logged_and_never_raises(caplog):
    refusing = Webhook(status=500)
    try:
        channels = [_channel(on=["failure"])]
        with caplog.at_level("WARNING"):
            assert send(channels, Notice(FAILURE, "f"), lambda _: (refusing.url, None)) == []
            assert send(channels, Notice(FAILURE, "f"), lambda _: ("http://127.0.0.1:9/none", None)) == []
            assert send(channels, Notice(FAILURE, "f"), lambda _: ("file:///etc/passwd", None)) == []
        assert caplog.text.count("notification failure to ops not delivered") == 3
    finally:
        refusing.close()
