"""What we write into a partner's folders, and what Airflow keeps and shows, against a partner that attacks them
with its own SFTP login: a file where our receipts folder goes, links planted under the names we write, a
delivery rewritten by its recipient, a manifest's claim the file refutes, a touched drop, a duplicate sent three
times, plaintext under an ``.age`` name. Real sshd (the partner plants through OpenSSH's ``sftp`` as its own user),
real age and ssh-keygen, real Airflow runs; SQLite here, PostgreSQL in ``test_partner_surfaces_postgres.py``."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text

from crosswalk.audit import read_events
from crosswalk.staging import ledger
from tests.support.airflow import run_dag
from tests.support.project import EnvPatch, clear_after, clients_csv, edit_yaml, index_csv, make_project

pytestmark = [pytest.mark.sshd, pytest.mark.airflow]
DATABASE = "sqlite"
COUNCIL, BOARD = "northshire-council", "nhs-northshire"
IN, OUT = "inbound_council_clients", "outbound_clients_to_health"


@pytest.fixture
def site(request, tmp_path, sshd, airflow_db):
    """A deployment on the module's database, partner folders emptied after."""
    db_url = (
        f"sqlite:///{tmp_path / 'crosswalk.db'}"
        if request.module.DATABASE == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    project = make_project(tmp_path, sshd, db_url)
    with EnvPatch(project.env()):
        yield project
    clear_after(project)


def _engine():
    from crosswalk.orchestration.connections import engine_for

    return engine_for("crosswalk_db")


def _as_partner(site, partner: str, batch: str) -> None:
    """The partner at work in its own area, with its own login and the standard client."""
    site.sshd.sftp_cli(partner, batch)


def _good(site, name: str, seed: int = 1, n: int = 6) -> Path:
    plain = clients_csv(site.work, n=n, name=name, seed=seed)
    return site.drop(COUNCIL, plain, feed="council-clients", schema_id="social_care_client")


def _flip_last_byte(enc: Path) -> None:
    data = enc.read_bytes()
    enc.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))  # always another byte: the file no longer matches


def _bad(site, name: str, seed: int = 2) -> Path:
    """A drop whose data file was changed after its manifest was written (checksum_mismatch)."""
    plain = clients_csv(site.work, n=4, name=name, seed=seed)
    return site.drop(
        COUNCIL,
        plain,
        feed="council-clients",
        schema_id="social_care_client",
        edit_after_manifest=_flip_last_byte,
    )


def _batch_of(site, enc: Path, feed: str = "council-clients") -> str:
    """The batch id a drop will get: the partner can compute it from its own manifest (so can an attacker)."""
    manifest = (site.outbox(COUNCIL) / (enc.name + ".manifest.json")).read_bytes()
    return ledger.batch_id_for(feed, hashlib.sha256(manifest).hexdigest())


def _index(site) -> None:
    site.drop(BOARD, index_csv(site.work), feed="health-index", schema_id="health_board_index")
    assert run_dag("inbound_health_index")[0] == "success"


def _owned(path: Path, partner_user: str) -> None:
    if not path.is_symlink():
        shutil.chown(path, user=partner_user, group=partner_user)


def _folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# --- 1. A file named `receipts` in the inbox -------------------------------------------------------------------


def test_a_file_where_our_receipts_folder_goes_never_wedges_the_feed(site):
    _index(site)
    blocker = site.inbox(COUNCIL) / "receipts"
    blocker.write_bytes(b"the partner's own file\n")
    _owned(blocker, site.sshd.users[COUNCIL].name)
    good, bad = _good(site, "clients_20261101.csv"), _bad(site, "clients_20261102.csv")

    state, tis = run_dag(IN)
    engine = _engine()
    assert state == "failed"  # the bad drop's task fails the run, as any quarantine does
    assert tis["ingest_drop[0]"] != tis["ingest_drop[1]"]  # one staged, one quarantined
    assert [s for t, s in tis.items() if t.startswith("match_batch")] == ["success"]  # the good one, matched
    good_batch, bad_batch = _batch_of(site, good), _batch_of(site, bad)
    with engine.connect() as conn:
        status = dict(conn.execute(text("SELECT batch_id, status FROM batch WHERE feed_id = 'council-clients'")).all())
        linked = conn.execute(text("SELECT COUNT(*) FROM crosswalk WHERE batch_id = :b"), {"b": good_batch}).scalar()
    assert status == {good_batch: "staged", bad_batch: "quarantined"} and linked == 6  # staged and matched
    failed = read_events(engine, event="partner_file.failed")
    assert {(e["batch_id"], e["reason"]) for e in failed} == {
        (good_batch, "receipt: area_obstructed"),
        (bad_batch, "receipt: area_obstructed"),
    }
    assert all("receipts in /inbox is a file where Crosswalk puts a folder" in e["detail"] for e in failed)
    notices = sorted(p.name for p in site.inbox(COUNCIL).glob("crosswalk-notice_*"))
    assert notices == sorted(f"crosswalk-notice_{b}_receipt.txt" for b in (good_batch, bad_batch))
    assert blocker.read_bytes() == b"the partner's own file\n"  # left as it is

    # The next runs: nothing examined again, no second quarantine, no second alert.
    assert run_dag(IN)[0] == "success"
    assert len(read_events(engine, event="drop.quarantined")) == 1
    assert not read_events(engine, event="drop.reexamined")
    assert [p.name for p in site.quarantine(COUNCIL).iterdir()] == [bad_batch]
    assert len(read_events(engine, event="partner_file.failed")) == 2

    # The partner clears the way: the receipts owed go with the next run.
    blocker.unlink()
    assert run_dag(IN)[0] == "success"
    sent = {e["batch_id"]: e["reason"] for e in read_events(engine, event="receipt.sent", feed_id="council-clients")}
    assert sent == {good_batch: "staged", bad_batch: "quarantined:checksum_mismatch"}
    assert len(list((site.inbox(COUNCIL) / "receipts").iterdir())) == 4  # each receipt and its signature


# --- 2. Links planted under the names we write ------------------------------------------------------------------


def test_our_uploads_never_follow_a_link_the_partner_plants(site):
    first = _bad(site, "clients_20261101.csv", seed=3)
    assert run_dag(IN)[0] == "failed"
    kept_batch = _batch_of(site, first)
    kept = site.quarantine(COUNCIL) / kept_batch
    before = _folder_bytes(kept)
    reason_file, data_copy = f"/quarantine/{kept_batch}/REASON.txt", f"/quarantine/{kept_batch}/data--{first.name}"

    # The partner predicts the next batch id from its own manifest, and plants links under every name Crosswalk
    # used to write (the part files) and under one final name (the receipt's signature).
    second = _bad(site, "clients_20261102.csv", seed=4)
    b = _batch_of(site, second)
    receipt = f"/inbox/receipts/crosswalk-receipt_{b}.json"
    (site.inbox(COUNCIL) / "receipts").mkdir(exist_ok=True)
    _owned(site.inbox(COUNCIL) / "receipts", site.sshd.users[COUNCIL].name)
    _as_partner(
        site,
        COUNCIL,
        f"symlink {reason_file} /inbox/crosswalk-feedback_{b}.txt.part\n"
        f"symlink {data_copy} {receipt}.part\n"
        f"symlink {reason_file} {receipt}.sig.part\n"
        f"symlink {reason_file} {receipt}.sig\n",
    )
    assert run_dag(IN)[0] == "failed"
    engine = _engine()

    assert _folder_bytes(kept) == before  # the kept copy of the first drop and its reason: untouched
    feedback = (site.inbox(COUNCIL) / f"crosswalk-feedback_{b}.txt").read_text()
    assert f"batch: {b}" in feedback and not (site.inbox(COUNCIL) / f"crosswalk-feedback_{b}.txt").is_symlink()
    assert json.loads((site.inbox(COUNCIL) / "receipts" / f"crosswalk-receipt_{b}.json").read_bytes())["batch_id"] == b
    links = [site.inbox(COUNCIL) / n for n in (f"crosswalk-feedback_{b}.txt.part",)] + [
        site.inbox(COUNCIL) / "receipts" / f"crosswalk-receipt_{b}.json{s}" for s in (".part", ".sig.part", ".sig")
    ]
    assert all(p.is_symlink() for p in links)  # never written through, never removed: not ours
    (failed,) = read_events(engine, event="partner_file.failed")
    assert failed["batch_id"] == b and failed["reason"] == "receipt: area_obstructed"
    assert "is a symlink where Crosswalk puts a file" in failed["detail"]
    assert (site.inbox(COUNCIL) / f"crosswalk-notice_{b}_receipt.txt").is_file()
    assert len(read_events(engine, event="drop.quarantined")) == 2

    # A delivery: the board plants a link under the next extract's name, into its own outbox.
    _index(site)
    good = _good(site, "clients_20261103.csv", seed=5)
    assert run_dag(IN)[0] == "success"
    board_file = site.outbox(BOARD) / "precious.txt"
    board_file.write_bytes(b"the board's own\n")
    _owned(board_file, site.sshd.users[BOARD].name)
    extract = f"social_care_clients_{_batch_of(site, good).rsplit('-', 1)[-1]}.csv.age"
    _as_partner(site, BOARD, f"symlink /outbox/precious.txt /inbox/{extract}\n")
    state, _ = run_dag(OUT)
    assert state == "failed" and board_file.read_bytes() == b"the board's own\n"
    assert (site.inbox(BOARD) / extract).is_symlink()
    (refused,) = [e for e in read_events(engine, event="task.failed") if e["task_id"].startswith("deliver_batch")]
    assert "is a symlink where Crosswalk puts a file" in refused["reason"]
    assert json.loads(refused["detail"])["error"] == "AreaObstructed"
    assert not read_events(engine, event="file.delivered")


# --- 3. Resend checks what is there before it trusts it --------------------------------------------------------


def test_resend_replaces_a_delivery_its_recipient_rewrote(site):
    _index(site)
    _good(site, "clients_20261101.csv")
    assert run_dag(IN)[0] == "success" and run_dag(OUT)[0] == "success"
    engine = _engine()
    (first,) = read_events(engine, event="file.delivered")
    inbox = site.inbox(BOARD)
    data = inbox / first["file_name"]
    extract = site.decrypt_delivery(BOARD, data)
    manifest = inbox / (first["file_name"] + ".manifest.json")
    # The board puts its own bytes in place and edits our manifest to match, keeping our (now invalid) signature.
    theirs = b"the board's own bytes, not ours\n" * 10
    data.write_bytes(theirs)
    doc = json.loads(manifest.read_bytes())
    doc["sha256"], doc["size"] = hashlib.sha256(theirs).hexdigest(), len(theirs)
    manifest.write_bytes(json.dumps(doc).encode())

    assert run_dag(OUT, {"resend_batch": first["batch_id"]})[0] == "success"
    (replaced,) = read_events(engine, event="delivery.replaced")
    assert json.loads(replaced["detail"]) == {"code": "signature_not_ours"}
    second = read_events(engine, event="file.delivered")[-1]
    ours = data.read_bytes()
    assert second["file_sha256"] == hashlib.sha256(ours).hexdigest() != hashlib.sha256(theirs).hexdigest()
    assert site.decrypt_delivery(BOARD, data) == extract  # ours again
    assert json.loads(manifest.read_bytes())["sha256"] == second["file_sha256"]

    # A byte-exact delivery of ours is left as it is on the next resend (and said to be there already).
    assert run_dag(OUT, {"resend_batch": first["batch_id"]})[0] == "success"
    assert len(read_events(engine, event="delivery.replaced")) == 1 and data.read_bytes() == ours


# --- 5. A claim the file refutes; a work root too small for an honest one ----------------------------------------


def test_a_claim_the_file_refutes_is_refused_and_a_work_root_too_small_holds_the_drop(site, tmp_path):
    edit_yaml(site.config_dir / "feeds" / "council-clients.yaml", max_bytes=1 << 40)
    site.reload()
    huge = 512 << 30
    lying = site.drop(
        COUNCIL,
        clients_csv(site.work, n=4, name="clients_20261101.csv", seed=1),
        feed="council-clients",
        schema_id="social_care_client",
        edit_manifest=lambda m: {**m, "plaintext_size": huge},
    )
    assert run_dag(IN)[0] == "failed"
    engine = _engine()
    with engine.connect() as conn:
        row = conn.execute(text("SELECT status, reason FROM batch WHERE batch_id = :b"), {"b": _batch_of(site, lying)})
        status, reason = row.one()
    assert status == "quarantined" and reason.startswith("manifest_out_of_range: ")
    assert f"plaintext_size {huge} bytes, more than an age file of" in reason

    # An honest drop larger than the free space of a small work root: held for an operator, the partner not blamed.
    mount = tmp_path / "small-work-root"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    try:
        honest = _good(site, "clients_20261102.csv", seed=2, n=600)
        with EnvPatch({"CROSSWALK_WORK_DIR": str(mount)}):
            assert run_dag(IN)[0] == "failed"
            with engine.connect() as conn:
                b = _batch_of(site, honest)
                status, reason = conn.execute(
                    text("SELECT status, reason FROM batch WHERE batch_id = :b"), {"b": b}
                ).one()
            assert status == "held" and reason.startswith("work_root_full: ")
            (held,) = read_events(engine, event="drop.held")
            assert json.loads(held["detail"])["code"] == "work_root_full"
            assert not list(site.inbox(COUNCIL).glob(f"crosswalk-feedback_{b}*"))  # the partner is not told off
            assert run_dag(IN)[0] == "success"  # held: waits for its release, never retried run after run
            assert len(read_events(engine, event="drop.held")) == 1
    finally:
        subprocess.run(["umount", str(mount)], check=True)


# --- 7. The risks ------------------------------------------------------------------------------------------------


def test_a_touched_drop_is_not_examined_again_until_its_bytes_change(site):
    bad = _bad(site, "clients_20261101.csv")
    assert run_dag(IN)[0] == "failed"
    engine = _engine()
    for suffix in ("", ".manifest.json", ".manifest.json.sig"):
        path = site.outbox(COUNCIL) / (bad.name + suffix)
        os.utime(path, (path.stat().st_mtime + 60, path.stat().st_mtime + 60))  # the same bytes, touched
    assert run_dag(IN)[0] == "success"
    assert len(read_events(engine, event="drop.quarantined")) == 1 and not read_events(engine, event="drop.reexamined")
    (skipped,) = [e for e in read_events(engine, event="drop.skipped") if "touched" in e["reason"]]
    assert json.loads(skipped["detail"]) == {"code": "unchanged"}
    assert len(list(site.quarantine(COUNCIL).iterdir())) == 1
    assert run_dag(IN)[0] == "success" and len(read_events(engine, event="drop.skipped")) == 1  # and once only

    # Its bytes change (the partner sends other bytes under the same names and manifest): examined again.
    data = site.outbox(COUNCIL) / bad.name
    data.write_bytes(bytes(len(data.read_bytes())))
    assert run_dag(IN)[0] == "failed"
    assert len(read_events(engine, event="drop.reexamined")) == 1
    assert len(read_events(engine, event="drop.quarantined")) == 2


def test_load_duplicate_loads_the_one_drop_it_names(site):
    engine = _engine()
    first = _good(site, "clients_20261101.csv", seed=9)
    assert run_dag(IN)[0] == "success"
    copies = []
    for day in ("02", "03"):  # the partner's system sends the same extract again, twice, under new names
        (site.work / "clients_20261101.csv").rename(site.work / f"clients_202611{day}.csv")
        copies.append(_good(site, f"clients_202611{day}.csv", seed=9))
        (site.work / f"clients_202611{day}.csv").rename(site.work / "clients_20261101.csv")
    assert run_dag(IN)[0] == "success"
    with engine.connect() as conn:
        skipped = conn.execute(text("SELECT batch_id FROM batch WHERE status = 'skipped'")).scalars().all()
    assert sorted(skipped) == sorted(_batch_of(site, c) for c in copies) and first

    assert run_dag(IN, {"load_duplicate": copies[0].name})[0] == "success"  # by its data file's name
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT COUNT(*) FROM stg_social_care_client")).scalar_one()
        status = dict(conn.execute(text("SELECT batch_id, status FROM batch")).all())
    assert rows == 12  # the first and the one named: not every copy ever sent
    assert status[_batch_of(site, copies[0])] == "staged" and status[_batch_of(site, copies[1])] == "skipped"
    assert [e["batch_id"] for e in read_events(engine, event="drop.resent")] == [_batch_of(site, copies[0])]
    # A name that is no skipped drop of the feed fails the run before anything is taken in.
    assert run_dag(IN, {"load_duplicate": "council-clients-0000000000000000"})[0] == "failed"


def test_plaintext_under_an_age_name_is_kept_by_hash_and_never_copied_to_the_server(site):
    plain = clients_csv(site.work, n=4, name="clients_20261101.csv", seed=1)
    fake = site.work / "clients_20261101.csv.age"
    shutil.copyfile(plain, fake)
    from crosswalk import partner as partner_side

    mpath = partner_side.write_manifest(
        plain, fake, feed="council-clients", schema_id="social_care_client", sender=COUNCIL,
        recipients=[site.our_identity.recipient],
    )  # fmt: skip
    spath = partner_side.sign(mpath, site.partner_keys[COUNCIL].signing_key, tools=True)
    site.sshd.sftp_cli(COUNCIL, "".join(f"put {p} /outbox/{p.name}\n" for p in (fake, mpath, spath)))
    assert run_dag(IN)[0] == "failed"
    (folder,) = site.quarantine(COUNCIL).iterdir()
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["REASON.txt", f"manifest--{mpath.name}", f"signature--{spath.name}"]  # no data-- copy
    reason = (folder / "REASON.txt").read_text()
    digest = hashlib.sha256(fake.read_bytes()).hexdigest()
    assert f"kept by its sha256 {digest} and size {fake.stat().st_size} bytes" in reason
    (event,) = read_events(_engine(), event="drop.quarantined")
    assert json.loads(event["detail"])["copy"] == "by_hash"
    assert (site.outbox(COUNCIL) / fake.name).read_bytes() == fake.read_bytes()  # the original, untouched


# --- 6. Airflow's own surfaces ---------------------------------------------------------------------------------

MARKS = ("McKay", "1961-02-03")  # a person's name in a file name and a manifest key; a date of birth as its value


def test_nothing_a_partner_typed_reaches_airflow_s_task_list_logs_xcom_or_lineage(site, capfd):
    """A drop named after a person and a manifest carrying a person's name as a key and a date of birth as its
    value, through a real run with Airflow's OpenLineage provider sending to a receiver; read back from the task
    runner's own output at the file descriptors, Airflow's task-instance and XCom tables, and every lineage
    event."""
    from airflow.settings import Session

    from crosswalk import partner as partner_side
    from tests.support.openlineage import lineage_listening
    from tests.support.webhook import Webhook

    plain = clients_csv(site.work, n=4, name="clients_20261101.csv", seed=1)
    enc = partner_side.encrypt(plain, site.our_identity.recipient, tools=True)
    mpath = partner_side.write_manifest(
        plain, enc, feed="council-clients", schema_id="social_care_client", sender=COUNCIL,
        recipients=[site.our_identity.recipient],
    )  # fmt: skip
    spath = partner_side.sign(mpath, site.partner_keys[COUNCIL].signing_key, tools=True)
    named = "clients_Mary McKay.csv.age"  # built by hand: a name the drop script would refuse
    for p, suffix in ((enc, ""), (mpath, ".manifest.json"), (spath, ".manifest.json.sig")):
        shutil.copyfile(p, site.outbox(COUNCIL) / (named + suffix))
        _owned(site.outbox(COUNCIL) / (named + suffix), site.sshd.users[COUNCIL].name)
    site.drop(
        COUNCIL,
        clients_csv(site.work, n=4, name="clients_20261102.csv", seed=2),
        feed="council-clients",
        schema_id="social_care_client",
        edit_manifest=lambda m: {**m, "Mary_McKay": "1961-02-03"},
    )

    box = Webhook(status=201)
    transport = {"type": "http", "url": box.url.rsplit("/hooks/", 1)[0], "endpoint": "api/v1/lineage"}
    capfd.readouterr()
    # Sent from a thread, not a forked child: a fork of a pytest worker can outlive it, holding the suite's pipes.
    lineage = {"AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport), "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "1"}
    with EnvPatch(lineage), lineage_listening():
        state, tis = run_dag(IN)
    out, err = capfd.readouterr()
    box.close()
    assert state == "failed" and sorted(s for t, s in tis.items() if t.startswith("ingest_drop")) == ["failed"] * 2
    assert "Task failed with exception" in out + err  # the runner's own lines are here, tracebacks and all
    assert box.received and any(e.get("eventType") == "FAIL" for e in box.received)
    with Session() as session:
        map_names = session.execute(text("SELECT rendered_map_index FROM task_instance")).scalars().all()
        xcoms = [str(v) for v in session.execute(text("SELECT value FROM xcom")).scalars().all()]
    assert any(n and n.startswith("unusual-name-") for n in map_names)  # the drop is there, by its hash
    surfaces = {
        "task runner output": out + err,
        "map index names": json.dumps(map_names),
        "xcom": json.dumps(xcoms),
        "lineage": json.dumps(box.received),
    }
    for where, found in surfaces.items():
        for mark in MARKS:
            assert mark not in found, f"{mark!r} reached {where}"
