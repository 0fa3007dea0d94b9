"""`crosswalk match link` runs the same pipeline on files, for ops and benchmarks."""

from __future__ import annotations

import subprocess

import pandas as pd

from crosswalk.demo.synthetic import client_rows, index_rows, people
from tests.conftest import REPO

CLI = str(REPO / ".venv" / "bin" / "crosswalk")


def _sides(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A council extract of 1,000 clients and the board's index of the 1,500 people they come from."""
    crowd = people(1500, seed=seed)
    left = pd.DataFrame(client_rows(crowd[:1000])).rename(columns={"source_id": "record_id"})
    return left, pd.DataFrame(index_rows(crowd)).assign(record_id=lambda d: d["chi_number"])


def test_match_link_on_csv_and_parquet(tmp_path):
    crowd = people(1500, seed=3)  # its CHIs are the truth below
    left = pd.DataFrame(client_rows(crowd[:1000])).rename(columns={"source_id": "record_id"})
    right = pd.DataFrame(index_rows(crowd)).assign(record_id=lambda d: d["chi_number"])
    # An address on both sides is compared; an identifier on one side only is not.
    left["address"] = [f"{i} KIRK STREET" for i in range(len(left))]
    right["address"] = [f"{i} KIRK STREET" for i in range(len(right))]
    left["local_id"] = "L1"
    left.to_csv(tmp_path / "left.csv", index=False)
    right.to_parquet(tmp_path / "right.parquet", index=False)
    out = subprocess.run(
        [
            CLI,
            "match",
            "link",
            str(tmp_path / "left.csv"),
            str(tmp_path / "right.parquet"),
            "--out",
            str(tmp_path / "x.csv"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "optional columns compared: address" in out.stdout
    result = pd.read_csv(tmp_path / "x.csv", dtype=str)
    assert len(result) == 1000 and result["record_id"].is_unique
    truth = dict(zip(left["record_id"], [p.chi for p in crowd[:1000]], strict=True))
    auto = result[result["band"] == "auto"]
    assert all(truth[r] == m for r, m in zip(auto["record_id"], auto["matched_chi"], strict=True))
    assert len(auto) >= 980


def test_match_link_names_missing_columns(tmp_path):
    pd.DataFrame({"record_id": ["1"], "forename": ["A"]}).to_csv(tmp_path / "bad.csv", index=False)
    out = subprocess.run(
        [CLI, "match", "link", str(tmp_path / "bad.csv"), str(tmp_path / "bad.csv"), "--out", str(tmp_path / "x.csv")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and "missing person column(s) ['chi_number', 'surname'" in out.stderr


def test_match_dedupe_writes_clusters_and_golden_records(tmp_path):
    crowd = pd.DataFrame(index_rows(people(800, seed=4))).assign(record_id=lambda d: [f"R{i}" for i in range(len(d))])
    twice = pd.concat([crowd, crowd.head(50).assign(record_id=lambda d: d["record_id"] + "-dup", chi_number="")])
    twice.to_csv(tmp_path / "in.csv", index=False)
    out = subprocess.run(
        [
            CLI,
            "match",
            "dedupe",
            str(tmp_path / "in.csv"),
            "--out",
            str(tmp_path / "c.csv"),
            "--golden",
            str(tmp_path / "g.csv"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "850 record(s) in 800 cluster(s)" in out.stdout
    golden = pd.read_csv(tmp_path / "g.csv", dtype=str)
    assert len(golden) == 800 and golden["chi_number"].notna().all() and golden["person_id"].nunique() == 800

    # The next day: the same records and one more copy of a known person. Nobody's id changes; the copy
    # takes its person's id; no merge or split.
    first = pd.read_csv(tmp_path / "c.csv", dtype=str)
    extra = crowd.head(1).assign(record_id=lambda d: d["record_id"] + "-dup2", chi_number="")
    pd.concat([twice, extra]).to_csv(tmp_path / "in2.csv", index=False)
    again = subprocess.run(
        [CLI, "match", "dedupe", str(tmp_path / "in2.csv"), "--out", str(tmp_path / "c2.csv"),
         "--previous", str(tmp_path / "c.csv"), "--changes", str(tmp_path / "changes.csv")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "against the previous run: 0 merge(s), 0 split(s)" in again.stdout
    second = pd.read_csv(tmp_path / "c2.csv", dtype=str).set_index("record_id")["person_id"]
    assert (second.loc[first["record_id"]].to_numpy() == first["person_id"].to_numpy()).all()  # 100% unchanged
    known = crowd.head(1)["record_id"].iloc[0]
    assert second[f"{known}-dup2"] == second[known]
    assert pd.read_csv(tmp_path / "changes.csv").empty


def test_match_train_then_link_a_delta_with_the_saved_model(tmp_path):
    left, right = _sides(seed=5)
    left.to_csv(tmp_path / "left.csv", index=False)
    left.head(100).to_csv(tmp_path / "delta.csv", index=False)
    right.to_csv(tmp_path / "right.csv", index=False)
    trained = subprocess.run(
        [CLI, "match", "train", str(tmp_path / "left.csv"), str(tmp_path / "right.csv"), "--out",
         str(tmp_path / "model.json")], capture_output=True, text=True,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "crosswalk match train: model link-v1:" in trained.stdout
    linked = subprocess.run(
        [CLI, "match", "link", str(tmp_path / "delta.csv"), str(tmp_path / "right.csv"), "--model",
         str(tmp_path / "model.json"), "--out", str(tmp_path / "delta-links.csv")], capture_output=True, text=True,
    )  # fmt: skip
    assert linked.returncode == 0, linked.stderr
    assert "100 record(s)" in linked.stdout and "not retrained" in linked.stdout
    (tmp_path / "bad.json").write_text("{}")
    refused = subprocess.run(
        [CLI, "match", "link", str(tmp_path / "delta.csv"), str(tmp_path / "right.csv"), "--model",
         str(tmp_path / "bad.json"), "--out", str(tmp_path / "x.csv")], capture_output=True, text=True,
    )  # fmt: skip
    assert refused.returncode == 1 and "not a saved Crosswalk model" in refused.stderr


def test_match_train_compares_the_new_model_with_the_one_in_use_on_the_reviewers_labels(tmp_path):
    left, right = _sides(seed=9)
    left.to_csv(tmp_path / "left.csv", index=False)
    left.head(300).to_csv(tmp_path / "older.csv", index=False)
    right.to_csv(tmp_path / "right.csv", index=False)
    labels = pd.DataFrame(
        {"record_id": left["record_id"].head(30), "candidate_record_id": right["record_id"].head(30),
         "outcome": ["match"] * 25 + ["no_match"] * 5}
    )  # fmt: skip
    labels.loc[25:, "candidate_record_id"] = right["record_id"].iloc[100:105].to_numpy()  # five wrong candidates
    labels.to_csv(tmp_path / "labels.csv", index=False)

    def train(src: str, out: str, *more: str):
        return subprocess.run(
            [CLI, "match", "train", str(tmp_path / src), str(tmp_path / "right.csv"), "--out", str(tmp_path / out),
             *more], capture_output=True, text=True,
        )  # fmt: skip

    assert train("older.csv", "old.json").returncode == 0
    new = train(
        "left.csv", "new.json", "--compare", str(tmp_path / "old.json"), "--labels", str(tmp_path / "labels.csv")
    )
    assert new.returncode == 0, new.stderr
    rows = [ln for ln in new.stdout.splitlines() if ln.startswith(("in use link-v1:", "new link-v1:"))]
    assert len(rows) == 2
    for row in rows:  # labelled 30, of which 25 true links found and none of the five wrong candidates taken
        assert row.split()[-6:] == ["30", "25", "0", "0", "1.0000", "1.0000"], row
    alone = train("left.csv", "x.json", "--labels", str(tmp_path / "labels.csv"))
    assert alone.returncode == 2 and "--compare and --labels go together" in alone.stderr
