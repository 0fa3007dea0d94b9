"""What a notice says and how it is put: our JSON, Slack's and Teams' one line, an e-mail body with nothing but
the notice; an endpoint's refusal comes back with its status and a one-line excerpt, never a page."""

from __future__ import annotations

import pytest

from crosswalk.notify import LATE_FILE, QUARANTINE, Notice, WebhookRefused, email_html, excerpt, payload, post
from tests.support.webhook import Webhook

NOTICE = Notice(QUARANTINE, "northshire-council: clients_20261127.csv.age quarantined: checksum_mismatch",
                feed_id="council-clients", partner="northshire-council", dag_id="inbound_council_clients",
                task_id="ingest_drop[0]")  # fmt: skip


def test_each_style_of_body():
    assert (
        payload(NOTICE, "crosswalk")["summary"] == NOTICE.summary and payload(NOTICE, "crosswalk")["kind"] == QUARANTINE
    )
    slack = payload(NOTICE, "slack")
    assert slack == {
        "text": "*Crosswalk: a drop was quarantined (northshire-council)*\n"
        f"{NOTICE.summary}\ninbound_council_clients · ingest_drop[0]"
    }
    assert payload(NOTICE, "teams") == slack
    assert Notice(LATE_FILE, "x").title == "Crosswalk: an expected file has not arrived"


def test_the_email_body_is_the_notice_escaped_and_nothing_else():
    body = email_html(Notice(QUARANTINE, "<b>x</b> & y", partner="p"))
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in body and "<b>x" not in body
    assert "Traceback" not in body and "exception" not in body.lower()


def test_an_excerpt_is_one_printable_line_cut_short():
    assert excerpt(b'{"ok":false,"error":"invalid_payload"}\n<html>...') == '{"ok":false,"error":"invalid_payload"}'
    assert excerpt(b"\x00\x1bbad\xff") == "??bad\ufffd".replace("\ufffd", "?")
    assert len(excerpt(b"x" * 500)) == 121 and excerpt(b"") == ""


@pytest.mark.parametrize("status", [400, 403, 500])
def test_a_refusal_carries_its_status_and_the_start_of_the_answer(status):
    hook = Webhook(status=status, body=b"invalid_token: the token was revoked\nmore lines\n")
    try:
        with pytest.raises(WebhookRefused) as refused:
            post(hook.url, "t", payload(NOTICE, "slack"))
        assert (refused.value.status, refused.value.excerpt) == (status, "invalid_token: the token was revoked")
        assert str(refused.value) == f"answered {status}: invalid_token: the token was revoked"
    finally:
        hook.close()


def test_only_http_urls_are_posted_to():
    with pytest.raises(ValueError, match="http"):
        post("file:///etc/passwd", None, {})
