"""The graduation gate: a feed leaves manual only with automation approval and enough manual runs."""

from __future__ import annotations

import shutil
from datetime import date

import pytest

from crosswalk.config.loader import load_config
from crosswalk.schedules import decide
from tests.conftest import REPO
from tests.support.project import edit_yaml

TODAY = date(2026, 11, 21)


def _config(tmp_path, *, schedule: str, approved: bool, feed: str = "clients-to-health", runs: int = 3):
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    edit_yaml(config / "feeds" / f"{feed}.yaml", schedule=schedule)
    automation = (
        {"approved": True, "by": "Morag Campbell (DPO)", "on": "2026-11-02"} if approved else {"approved": False}
    )
    edit_yaml(config / "agreements" / "northshire-isp.v2.yaml", automation=automation)
    edit_yaml(config / "crosswalk.yaml", graduation={"manual_runs": runs})
    return load_config(config)


def test_a_manual_feed_stays_manual_and_needs_nothing(tmp_path):
    cfg = _config(tmp_path, schedule="manual", approved=False)
    d = decide(cfg, cfg.feeds["clients-to-health"], 0, TODAY)
    assert (d.effective, d.held, d.missing) == ("manual", False, [])
    assert d.summary() == "manual: runs only when triggered"


def test_without_automation_approval_a_scheduled_feed_is_held_and_says_what_is_missing(tmp_path):
    cfg = _config(tmp_path, schedule="0 6 * * 1", approved=False)
    d = decide(cfg, cfg.feeds["clients-to-health"], 1, TODAY)
    assert d.effective == "manual" and d.held
    assert d.summary() == (
        "held at manual (config asks for 0 6 * * 1): agreement northshire-isp v2 records no automation approval; "
        "1 of 3 successful manual runs"
    )


def test_approval_alone_is_not_enough_nor_are_runs_alone(tmp_path):
    cfg = _config(tmp_path, schedule="@daily", approved=True)
    feed = cfg.feeds["clients-to-health"]
    assert decide(cfg, feed, 2, TODAY).missing == ["2 of 3 successful manual runs"]
    assert decide(cfg, feed, 3, TODAY).effective == "@daily"
    assert decide(cfg, feed, 3, TODAY).summary() == "@daily: graduated from manual"


def test_an_unreadable_run_history_keeps_the_feed_manual(tmp_path):
    cfg = _config(tmp_path, schedule="@daily", approved=True)
    d = decide(cfg, cfg.feeds["clients-to-health"], None, TODAY, why_unknown="cannot read the run history: X")
    assert d.effective == "manual"
    assert d.missing == ["successful manual runs unknown (cannot read the run history: X); 3 needed"]


@pytest.mark.parametrize(
    ("feed", "held_by"),
    [
        # An inbound feed is governed by the agreement under which its partner provides its dataset.
        ("council-clients", None),
        ("social-care-summary", None),
        ("health-index", "northshire-isp-health-to-council v1"),
    ],
)
def test_every_kind_of_feed_is_gated_by_the_agreement_that_governs_it(tmp_path, feed, held_by):
    cfg = _config(tmp_path, schedule="on_arrival", approved=True, feed=feed)  # approves northshire-isp v2 only
    d = decide(cfg, cfg.feeds[feed], 5, TODAY)
    if held_by is None:
        assert (d.effective, d.missing) == ("on_arrival", [])
    else:
        assert (d.effective, d.missing) == ("manual", [f"agreement {held_by} records no automation approval"])
