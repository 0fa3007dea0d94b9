"""Our notices as Airflow notifiers, against real endpoints: a webhook that answers 400 (logged with its status and
an excerpt; the run goes on), e-mail through Airflow's SMTP provider to a real SMTP server, any Airflow notifier
named by path, and a DAG's failure callback built from config."""

from __future__ import annotations

import pytest
from airflow.sdk.bases.notifier import BaseNotifier

from crosswalk.config.models import NotificationChannel
from crosswalk.errors import ChecksumMismatch
from crosswalk.notify import FAILURE, LATE_FILE, QUARANTINE, Notice
from crosswalk.orchestration.notifiers import EmailNotifier, WebhookNotifier, failure_callbacks, send
from tests.support.project import EnvPatch
from tests.support.smtp import Mailbox
from tests.support.webhook import Webhook

RECEIVED: list[dict] = []


class Recording(BaseNotifier):
    """An organisation's own Airflow notifier: templated, as Airflow renders notifiers."""

    template_fields = ("message",)

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def notify(self, context) -> None:
        RECEIVED.append({"message": self.message, "kind": context["crosswalk_notice"]["kind"]})


def channel(**kw) -> NotificationChannel:
    return NotificationChannel.model_validate({"id": "ops", "on": ["failure", "quarantine", "late_file"], **kw})


@pytest.fixture
def mailbox():
    box = Mailbox()
    with EnvPatch({"AIRFLOW_CONN_SMTP_TEAM": box.connection_json()}):
        yield box
    box.close()


def test_a_webhook_that_answers_400_is_logged_with_status_and_excerpt_and_the_run_goes_on(caplog):
    hook = Webhook(status=400, body=b"invalid_payload\n")
    try:
        with EnvPatch({"AIRFLOW_CONN_SLACK_OPS": f'{{"conn_type": "http", "host": "{hook.url}"}}'}):
            channels = [channel(webhook={"conn_id": "slack_ops", "style": "slack"})]
            with caplog.at_level("WARNING"):
                assert send(channels, Notice(QUARANTINE, "q", partner="p")) == []  # delivered to no one, no raise
        assert hook.received == [{"text": "*Crosswalk: a drop was quarantined (p)*\nq"}]
        assert "notification quarantine to ops not delivered: answered 400: invalid_payload" in caplog.text
    finally:
        hook.close()


def test_email_goes_through_airflow_s_smtp_provider_with_our_words_only(mailbox):
    channels = [channel(id="ig-team", email={"to": ["ig@northshire.example"], "smtp_conn_id": "smtp_team"})]
    notice = Notice(LATE_FILE, "northshire-council: clients_*.csv expected by 09:00 has not arrived",
                    feed_id="council-clients", partner="northshire-council")  # fmt: skip
    assert send(channels, notice) == ["ig-team"]
    (msg,) = mailbox.messages
    assert msg["Subject"] == "Crosswalk: an expected file has not arrived (northshire-council)"
    assert msg["To"] == "ig@northshire.example" and msg["From"] == "crosswalk@northshire.example"
    body = msg.get_body(("html",)).get_content()
    assert "clients_*.csv expected by 09:00 has not arrived" in body and "council-clients" in body


def test_a_failure_callback_is_an_airflow_notifier_and_names_only_our_reason(mailbox):
    channels = [
        channel(id="ig-team", email={"to": ["ig@northshire.example"], "smtp_conn_id": "smtp_team"}),
        channel(id="council-only", partners=["northshire-council"], webhook={"conn_id": "nowhere"}),
    ]
    callbacks = failure_callbacks(channels, "health-index", "nhs-northshire")
    assert [type(c) for c in callbacks] == [EmailNotifier]  # the council's channel hears nothing of the board's feed
    assert all(isinstance(c, BaseNotifier) for c in callbacks)

    class TI:
        dag_id, task_id, run_id = "inbound_health_index", "ingest_drop", "manual__1"

    wrapped = RuntimeError("pandas said: bad value 'Jane Smith'")
    wrapped.__cause__ = ChecksumMismatch("chi_index_1.csv.age: sha256 differs from the manifest")
    callbacks[0]({"ti": TI(), "exception": wrapped})  # as Airflow calls it
    (msg,) = mailbox.messages
    body = msg.get_body(("html",)).get_content()
    assert "inbound_health_index.ingest_drop failed: chi_index_1.csv.age: sha256 differs from the manifest" in body
    assert "Jane" not in body


def test_any_airflow_notifier_plugs_in_by_path():
    RECEIVED.clear()
    template = "{{ crosswalk_notice.summary }} ({{ crosswalk_notice.kind }})"
    channels = [channel(notifier={"classpath": f"{__name__}.Recording", "kwargs": {"message": template}})]
    assert send(channels, Notice(FAILURE, "a task failed")) == ["ops"]
    assert RECEIVED == [{"message": "a task failed (failure)", "kind": "failure"}]


def test_a_channel_is_one_way_of_sending():
    with pytest.raises(ValueError, match="exactly one of webhook, email or notifier"):
        channel(webhook={"conn_id": "a"}, email={"to": ["x@y.z"]})
    with pytest.raises(ValueError, match="exactly one"):
        channel()


def test_a_webhook_notifier_posts_our_json(mailbox):
    hook = Webhook()
    try:
        with EnvPatch({"AIRFLOW_CONN_OPS": f'{{"conn_type": "http", "host": "{hook.url}", "password": "tok"}}'}):
            assert WebhookNotifier("ops", "ops").deliver(Notice(QUARANTINE, "q", partner="p"))
        assert hook.received[0]["source"] == "crosswalk" and hook.auth == ["Bearer tok"]
    finally:
        hook.close()


def test_check_refuses_a_notifier_that_does_not_import_or_is_not_one():
    from crosswalk.orchestration.notifiers import notifier_problems

    channels = [
        channel(id="typo", notifier={"classpath": "airflow.providers.slack.notifications.slack.SlackNotifer"}),
        channel(id="not-one", notifier={"classpath": "collections.OrderedDict"}),
        channel(id="fine", notifier={"classpath": f"{__name__}.Recording", "kwargs": {"message": "m"}}),
    ]
    problems = [(p.field, p.reason) for p in notifier_problems(channels)]
    assert [f for f, _ in problems] == ["notifications.typo.notifier", "notifications.not-one.notifier"]
    assert "is not an Airflow notifier" in problems[1][1]
