"""The IG views: list, show, diff and the register, on the shipped agreements."""

from __future__ import annotations

import subprocess
from datetime import date
from html.parser import HTMLParser

import pytest

from crosswalk.agreements import views
from crosswalk.config.loader import load_config
from tests.conftest import REPO

CLI = str(REPO / ".venv" / "bin" / "crosswalk")
ON = date(2026, 11, 21)


@pytest.fixture(scope="module")
def cfg():
    return load_config(REPO / "config", REPO / "include" / "schemas", check_descriptors=False)


@pytest.fixture(scope="module")
def names(cfg):
    return {**{c: p.name for c, p in cfg.partners.items()}, cfg.settings.operator.code: cfg.settings.operator.name}


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, "agreements", *args, "--on", ON.isoformat()], capture_output=True, text=True)


def test_list_shows_each_agreement_with_the_version_in_force_and_its_status():
    out = run("list")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["agreement", "version", "status", "provider", "recipients", "(level)", "valid", "until"]
    assert lines[1].split() == [
        "northshire-isp",
        "2",
        "active",
        "northshire-council",
        "nhs-northshire",
        "(2)",
        "2029-03-31",
    ]
    assert lines[3].split() == ["northshire-open-data", "1", "active", "northshire-hscp", "public", "(1)", "2029-05-31"]


def test_show_says_who_receives_which_fields_at_which_level_and_why():
    out = run("show", "northshire-isp")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith("northshire-isp v2: Northshire Council to NHS Northshire")
    for expected in (
        "Status          active (valid 2026-04-01 to 2029-03-31; review due 2027-09-30)",
        "Recipient       NHS Northshire (nhs-northshire) at level 2: 16 field(s), 1 transformed",
        "Lawful basis    UK GDPR Article 6(1)(e) (public task); Article 9(2)(h) (health or social care)",
        "Sign-off        NHS Northshire (nhs-northshire): Dr Iain Fraser, Caldicott Guardian, 2026-03-09",
        "Automation      not approved: runs stay manual",
        "Other versions  v1 (expired)",
    ):
        assert expected in text
    rows = {
        line.split()[0]: line.split()[1:] for line in text.splitlines() if line.startswith("  ") and "  " in line[2:]
    }
    # field, classification (two words), from, then levels 1-4; [ ] marks the granted level 2.
    assert rows["source_id"][-4:] == ["pseudonymised", "[pseudonymised]", "pseudonymised", "pseudonymised"]
    assert rows["care_package_type"][-6:] == ["2", "not", "sent", "[sent]", "sent", "sent"]
    assert rows["adult_protection_flag"] == ["special", "category", "4", *["not", "sent"] * 3, "sent"]


def test_show_a_named_version_and_an_unknown_one():
    old = run("show", "northshire-isp@1")
    assert old.returncode == 0 and old.stdout.startswith("northshire-isp v1:")
    assert "Status          expired (valid 2025-04-01 to 2026-03-31" in old.stdout
    missing = run("show", "northshire-isp@7")
    assert missing.returncode == 1 and "northshire-isp has no version 7 (versions: 1, 2)" in missing.stderr


def test_diff_lists_what_changed_between_versions():
    out = run("diff", "northshire-isp@1", "northshire-isp@2")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "northshire-isp v1 -> northshire-isp v2"
    for expected in (
        "  valid_until: 2026-03-31 -> 2029-03-31",
        "  pseudonymisation key connection: None -> crosswalk_pseudonym_northshire_isp",
        "  level granted to nhs-northshire: 1 -> 2",
        "  sign-off by nhs-northshire: Dr Anne Reid, Caldicott Guardian, 2025-03-12 -> "
        "Dr Iain Fraser, Caldicott Guardian, 2026-03-09",
        "  social_care_client.source_id at level 1: sent -> pseudonymised",
    ):
        assert expected in lines
    assert not any("chi_number" in line for line in lines)  # unchanged fields are not listed


def test_diff_of_a_version_with_itself_says_so(cfg):
    v2 = cfg.agreements["northshire-isp"].version(2)
    assert views.diff_text(v2, v2).splitlines()[1] == "  no differences"


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.chunks: list[str] = []

    def handle_data(self, data):
        self.chunks.append(data)


def test_register_is_written_as_markdown_and_html(tmp_path):
    out = subprocess.run(
        [CLI, "agreements", "register", "-o", str(tmp_path), "--on", ON.isoformat()], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    md = (tmp_path / "register.md").read_text()
    assert "| [northshire-isp](#northshire-isp) | 2 | active | Northshire Council (northshire-council) |" in md
    assert "| `source_id` | The council's client id, sent as a stable pseudonym" in md
    assert "| **pseudonymised** |" in md  # the granted level, in bold
    html = (tmp_path / "register.html").read_text()
    parser = _Text()
    parser.feed(html)
    text = " ".join(c.strip() for c in parser.chunks if c.strip())
    assert "Register of data-sharing agreements" in text
    assert "the public (open data)" in text and "Dr Iain Fraser, Caldicott Guardian, 2026-03-09" in text
    # board at 2 (16); council at 1: the identifiers returned (7) and the index for its reviewers (6); public (5)
    assert html.count('<td class="granted">') == 16 + 7 + 6 + 5


def test_status_follows_the_day(cfg, names):
    history = cfg.agreements["northshire-isp"]
    v2 = history.version(2)
    assert views.status_line(v2, date(2026, 3, 31)).startswith("pending")
    assert views.status_line(v2, date(2028, 1, 1)).startswith("review overdue")
    assert views.status_line(v2, date(2029, 4, 1)).startswith("expired")
