"""`crosswalk demo` (what `make demo` runs) completes on the embedded default and cleans up; every file and
task of its run is traceable from the audit store alone; its IG report renders in a browser."""

from __future__ import annotations

import csv
import getpass
import hashlib
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import psutil
import pytest
from sqlalchemy import create_engine, text

from crosswalk import auditchain, disclosures
from crosswalk.audit import read_events
from tests.conftest import REPO
from tests.support.env import require
from tests.support.inbox import inbox_entries

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One demo run (60 clients, 90 people) shared by the tests below: what `make demo` does."""
    work = tmp_path_factory.mktemp("demo-run") / "demo"
    out = subprocess.run(
        [str(REPO / ".venv" / "bin" / "crosswalk"), "demo", "--workdir", str(work), "--rows", "60"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=work.parent,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return work, out.stdout


def test_demo_runs_end_to_end_and_stops_what_it_started(demo_run):
    work, stdout = demo_run
    for dag_id in (
        "inbound_council_clients",
        "inbound_health_index",
        "inbound_council_objections",
        "inbound_health_restricted",
        "outbound_clients_to_health",
        "outbound_chi_numbers_to_council",
        "publish_social_care_summary",
        "open_data_care_packages_open_data",
    ):
        assert f"  {dag_id}: success" in stdout
    # It ends with the portal table and the open-data package, and says where they are.
    assert "PUB  social-care-summary:v1 (live)" in stdout and "OPEN care-packages-open-data:v1 (live)" in stdout
    assert (work / "open-data" / "care-packages-open-data" / "v1" / "datapackage.json").is_file()
    assert (work / "published" / "open-data" / "care-packages-open-data" / "care_packages_by_area.csv").is_file()
    assert "-> staged: 60 rows" in stdout and "-> staged: 90 rows" in stdout
    # The board is at level 2 of the ISP (16 of the 20 client fields), for the clients matched to its records bar
    # the one who objected; the council gets back, for its own clients, the CHI numbers matching found (7 fields),
    # bar the one whose NHS record is restricted: never the board's 90-person register.
    assert "59 rows, 16 fields" in stdout and "59 rows, 7 fields" in stdout and "90 rows, 6 fields" not in stdout
    assert "withheld: objected 1" in stdout and "withheld: restricted 1" in stdout
    assert "nhs-northshire opens it with its own age key; columns: source_id," in stdout
    assert "northshire-council opens it with its own age key; columns: source_id,chi_number,match_band," in stdout
    assert "Crosswalk demo: complete" in stdout
    delivered = sorted(p.name for p in inbox_entries(work / "sftp" / "nhs-northshire" / "inbox"))
    assert [n.split(".csv.age")[1] for n in delivered] == ["", ".manifest.json", ".manifest.json.sig"]
    # Every process it started is gone: its SFTP servers are the ones whose command line names its workdir
    # (other demos may be running on the machine at the same time).
    leftover = [p for p in psutil.process_iter(["cmdline"]) if str(work) in " ".join(p.info["cmdline"] or [])]
    assert leftover == []


def test_the_council_receives_only_its_own_clients_and_never_the_board_s_register(demo_run):
    """What an IG officer checks after `make demo`: every record disclosed to the council is one of the council's
    own clients (by the disclosure log's keyed hashes, under the demo's own key), at most as many as it sent."""
    work, _ = demo_run
    env = (work / "disclosure-key.env").read_text()
    key = bytes.fromhex(json.loads(env.split("=", 1)[1].strip().strip("'"))["password"])
    with (work / "data").joinpath(next(p.name for p in (work / "data").glob("clients_*.csv"))).open() as f:
        clients = [r["source_id"] for r in csv.DictReader(f)]
    engine = create_engine(f"sqlite:///{work / 'crosswalk.db'}")
    with engine.connect() as conn:
        to_council = conn.execute(text(
            "SELECT p.source_hash, p.admitted FROM disclosure_person p JOIN disclosure d"
            " ON d.disclosure_no = p.disclosure_no WHERE d.recipient = 'northshire-council'"
        )).all()  # fmt: skip
        (withheld,) = conn.execute(
            text("SELECT withheld FROM disclosure WHERE recipient = 'northshire-council'")
        ).scalars()
    engine.dispose()
    own = set(disclosures.keyed(key, disclosures.SOURCE, pd.Series(clients, dtype=object)))
    assert 0 < len(to_council) <= len(clients) == 60
    assert {h for h, _ in to_council} <= own  # every one a council client
    assert {a for _, a in to_council} <= {"matched", "own_record"} and json.loads(withheld) == {"restricted": 1}


def _events(work: Path) -> list[dict]:
    engine = create_engine(f"sqlite:///{work / 'crosswalk.db'}")
    try:
        return read_events(engine)
    finally:
        engine.dispose()


def test_every_file_and_task_of_a_demo_run_is_traceable_from_the_audit_store(demo_run):
    demo_run = demo_run[0]
    events = _events(demo_run)
    engine = create_engine(f"sqlite:///{demo_run / 'crosswalk.db'}")
    assert auditchain.verify(engine).ok
    engine.dispose()
    by_sha = {}
    for e in events:
        if e["file_sha256"]:
            by_sha.setdefault(e["file_sha256"].strip(), []).append(e)
    sftp = demo_run / "sftp"
    # Out: every delivered file, by its own hash: who got it, under which agreement and level, which fields, rows.
    delivered = sorted(sftp.glob("*/inbox/*.csv.age"))
    assert len(delivered) == 2  # one to the board, one (the CHI numbers back) to the council
    for path in delivered:
        manifest = json.loads(path.with_name(path.name + ".manifest.json").read_text())
        (ev,) = [e for e in by_sha[hashlib.sha256(path.read_bytes()).hexdigest()] if e["event"] == "file.delivered"]
        detail = json.loads(ev["detail"])
        assert ev["partner"] == path.parts[-3] and ev["file_size"] == path.stat().st_size
        assert ev["rows_out"] == manifest["rows"]
        assert (detail["agreement_id"], detail["agreement_version"], detail["level"]) == (
            manifest["agreement_id"], manifest["agreement_version"], manifest["level"]
        )  # fmt: skip
        assert detail["fields_sent"] == manifest["fields"]
    # In: every partner drop, by its own hash: received (signed by whom) and staged (rows).
    dropped = sorted(sftp.glob("*/outbox/*.csv.age"))
    assert len(dropped) == 4  # each side's extract, and each side's governed list (objections, restricted)
    for path in dropped:
        evs = {e["event"]: e for e in by_sha[hashlib.sha256(path.read_bytes()).hexdigest()]}
        assert evs["file.received"]["partner"] == path.parts[-3]
        assert json.loads(evs["file.received"]["detail"])["signed_by"].startswith("SHA256:")
        staged = [
            e for e in events if e["event"] == "batch.staged" and e["batch_id"] == evs["file.received"]["batch_id"]
        ]
        assert staged[0]["rows_out"] > 0
        received = json.loads(staged[0]["detail"])
        if not path.name.startswith(("objections_", "restricted_")):  # a list is not data shared under an agreement
            assert received["agreement_id"].startswith("northshire-isp") and received["fields_received"]
    # Every task that started has an outcome, and every task of every DAG started.
    started = {(e["dag_id"], e["run_id"], e["task_id"]) for e in events if e["event"] == "task.started"}
    ended = {
        (e["dag_id"], e["run_id"], e["task_id"]) for e in events if e["event"] in ("task.succeeded", "task.failed")
    }
    assert started == ended
    tasks = {(d, t.split("[")[0]) for d, _, t in started}
    for dag_id in ("inbound_council_clients", "inbound_health_index"):
        assert {(dag_id, "prepare"), (dag_id, "discover_drops"), (dag_id, "ingest_drop")} <= tasks
    for dag_id in ("outbound_clients_to_health", "outbound_chi_numbers_to_council"):
        assert {(dag_id, "prepare"), (dag_id, "plan_deliveries"), (dag_id, "deliver_batch")} <= tasks


def test_the_ig_report_of_the_demo_run_renders_in_headless_chromium(demo_run, tmp_path):
    demo_run = demo_run[0]
    (report,) = (demo_run / "reports").glob("ig-report_*.html")
    html = report.read_text()
    assert 'Audit chain: <span class="ok">chain intact' in html
    assert "northshire-isp v2" in html and "northshire-isp-health-to-council v1" in html
    assert "<h2>Matching</h2>" in html and "Models trained and retrained" in html  # the demo's match, its model
    rows = list(csv.DictReader(report.with_suffix(".csv").open()))
    # Every disclosure: both deliveries, the portal publication and the open-data release; both drops received.
    assert sorted(r["kind"] for r in rows) == [
        "delivery", "delivery", "open-data release", "portal publication", "received", "received", "received",
        "received",
    ]  # fmt: skip
    # People withheld, by reason, per record-level disclosure: the objector from the board, the restricted
    # record from the council's return.
    assert "<h2>People withheld, by reason</h2>" in html
    withheld = {r["feed"]: r["people_withheld"] for r in rows if r["kind"] in ("delivery", "portal publication")}
    assert withheld == {"clients-to-health": "objected 1", "chi-numbers-to-council": "restricted 1",
                        "social-care-summary": "objected 1"}  # fmt: skip
    portal = next(r for r in rows if r["kind"] == "portal publication")
    assert (portal["file"], portal["agreement"], portal["version"], portal["level"]) == (
        "social-care-summary:v1", "northshire-isp", "2", "2"
    )  # fmt: skip
    assert int(portal["rows"]) > 0 and "chi_number" in portal["fields_sent"]
    release = next(r for r in rows if r["kind"] == "open-data release")
    assert re.fullmatch(r"\d+ cells in \d+ table\(s\); \d+ suppressed \(\d+ under 8, \d+ to protect them\)",
                        release["fields_sent"])  # fmt: skip
    assert release["reason"] == "to file" and release["approved_by"]
    # A person started each manual run: the account that ran the demo (dag.test names no one).
    assert {r["triggered_by"] for r in rows} == {f"{getpass.getuser()} (dag.test)"}
    assert html.count("<svg") >= 4  # transfers by week, rejections by reason, the score histogram, the weights
    ET.fromstring(re.search(r"<svg.*?</svg>", html, re.S).group(0))  # well-formed SVG
    chromium = shutil.which("chromium")
    require(None if chromium else "chromium is not installed (apt-get install chromium)")
    artifacts = Path(os.environ.get("CROSSWALK_ARTIFACTS", REPO / "build" / "artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    png = artifacts / "ig-report.png"
    png.unlink(missing_ok=True)
    subprocess.run(
        [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium'}", "--hide-scrollbars", "--window-size=1400,1300",
            f"--screenshot={png}", report.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a real rendering, not a blank page


def _leftovers(work: Path) -> list:
    return [p for p in psutil.process_iter(["cmdline"]) if str(work) in " ".join(p.info["cmdline"] or [])]


@pytest.mark.parametrize("step", ["partner_drop", "ig_report"])
def test_a_demo_step_that_fails_stops_every_process_the_demo_started(step, tmp_path, monkeypatch):
    """A step failing on purpose, once with the SFTP servers and Airflow's process waiting (a partner's
    drop) and once after the runs (the report): the error surfaces and nothing the demo started is left."""
    from crosswalk.demo import run, scene

    def broken(*_args, **_kwargs):
        raise RuntimeError(f"{step} failed on purpose")

    monkeypatch.setattr(scene, step, broken)
    work = tmp_path / "demo"
    with pytest.raises(RuntimeError, match="on purpose"):
        run.run_demo(work, rows=20)
    assert (work / "sftp" / "ready").is_file()  # the servers had started
    assert _leftovers(work) == []


def test_a_demo_stopped_by_sigterm_stops_what_it_started(tmp_path):
    """SIGTERM while the DAGs run (what `timeout` or a CI runner sends): the servers and Airflow's process go too."""
    import signal
    import time

    work = tmp_path / "demo"
    proc = subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "crosswalk"), "demo", "--workdir", str(work), "--rows", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "running the DAGs" in line:
            break
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "stopped the demo SFTP servers" in out
    assert _leftovers(work) == []


def test_a_person_s_trail_through_the_demo_is_found_from_the_disclosure_log(demo_run):
    """`crosswalk audit disclosures --chi` on the demo's database, as its summary says: the person's record went
    to the board (the council's client extract), to the council (its CHI number, back) and into the portal,
    each with its agreement, level and the fields the record carried."""
    work, stdout = demo_run
    assert "crosswalk audit disclosures --chi <a client's CHI>" in stdout
    engine = create_engine(f"sqlite:///{work / 'crosswalk.db'}")
    with engine.connect() as conn:
        chi = conn.exec_driver_sql("SELECT chi_number FROM pub_social_care_summary ORDER BY chi_number").scalar()
    engine.dispose()
    line = (work / "disclosure-key.env").read_text().strip().removeprefix("export ")
    name, value = line.split("=", 1)
    env = {**os.environ, name: value.strip("'")}
    out = subprocess.run(
        [str(REPO / ".venv" / "bin" / "crosswalk"), "audit", "disclosures", "--chi", chi,
         "--url", f"sqlite:///{work / 'crosswalk.db'}", "--csv"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(out.stdout.splitlines()))
    assert sorted((r["what"], r["to"], r["agreement"], r["level"]) for r in rows) == [
        ("delivery", "nhs-northshire", "northshire-isp v2", "2"),
        ("delivery", "northshire-council", "northshire-isp-health-to-council v1", "1"),
        ("portal", "nhs-northshire", "northshire-isp v2", "2"),
    ]
    carried = {(r["what"], r["to"]): r["fields this record carried"].split(", ") for r in rows}
    assert "chi_number" in carried[("portal", "nhs-northshire")]  # keyed by the person's CHI, own or matched
    # The council got back its own record with the CHI matching found: no name, no address of the board's.
    assert carried[("delivery", "northshire-council")][:3] == ["source_id", "chi_number", "match_band"]
    assert not {"forename", "surname", "postcode"} & set(carried[("delivery", "northshire-council")])
    why = {(r["what"], r["to"]): r["why included"] for r in rows}
    assert why[("delivery", "nhs-northshire")].startswith("linked by the crosswalk to a record the recipient sent")
    assert chi not in out.stderr  # the identifier is looked up, never echoed
    assert (work / "disclosure-key.env").stat().st_mode & 0o077 == 0
