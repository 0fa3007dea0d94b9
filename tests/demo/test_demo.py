"""`crosswalk demo` (what `make demo` runs) completes on the embedded default and cleans up."""

from __future__ import annotations

import subprocess

import psutil
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.airflow


def test_demo_runs_end_to_end_and_stops_what_it_started(tmp_path):
    out = subprocess.run(
        [str(REPO / ".venv" / "bin" / "crosswalk"), "demo", "--workdir", str(tmp_path / "demo"), "--rows", "60"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    for dag_id in (
        "inbound_council_clients",
        "inbound_health_index",
        "outbound_clients_to_health",
        "outbound_index_to_council",
    ):
        assert f"airflow dags test {dag_id}: success" in out.stdout
    assert "-> staged: 60 rows" in out.stdout and "-> staged: 90 rows" in out.stdout
    # The board is at level 2 of the ISP (16 of the 20 client fields); the council at level 1 of schedule B
    # (the CHI index without the GP practice: 6 of 7).
    assert "60 rows, 16 fields" in out.stdout and "90 rows, 6 fields" in out.stdout
    assert "nhs-northshire opens it with its own age key; columns: source_id," in out.stdout
    assert "northshire-council opens it with its own age key; columns: chi_number," in out.stdout
    assert "Crosswalk demo: complete" in out.stdout
    delivered = sorted(p.name for p in (tmp_path / "demo" / "sftp" / "nhs-northshire" / "inbox").iterdir())
    assert [n.split(".csv.age")[1] for n in delivered] == ["", ".manifest.json", ".manifest.json.sig"]
    # Every process it started is gone: its SFTP servers are the ones whose command line names its workdir
    # (other demos may be running on the machine at the same time).
    leftover = [
        p for p in psutil.process_iter(["cmdline"]) if str(tmp_path / "demo") in " ".join(p.info["cmdline"] or [])
    ]
    assert leftover == []
