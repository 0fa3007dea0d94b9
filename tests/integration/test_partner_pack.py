"""A partner with only standard tools, end to end: `crosswalk partner pack` writes their folder from our config
and our keys' connections; the POSIX drop script, run with no Python on its PATH, drops an extract on the real
sshd; the inbound DAG stages it; the same script fetches the signed receipt and verifies it with
``ssh-keygen -Y verify``, as the partner would."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from sqlalchemy import text

from crosswalk.cli import main
from crosswalk.orchestration.connections import engine_for
from tests.partnerpack.test_drop_script import partner_env
from tests.support.airflow import run_dag
from tests.support.project import clients_csv

pytestmark = [pytest.mark.sshd, pytest.mark.airflow]
COUNCIL = "northshire-council"


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'crosswalk.db'}"


def test_a_partner_drops_with_the_pack_script_and_verifies_its_receipt(project, tmp_path, capsys):
    pack = tmp_path / "pack"
    assert main(["partner", "pack", COUNCIL, "-o", str(pack), "--config", str(project.config_dir)]) == 0
    assert (pack / "drop.sh").stat().st_mode & 0o111
    assert (pack / "crosswalk-recipients.txt").read_text().splitlines()[1:] == [project.our_identity.recipient]
    conf = (pack / "drop.conf").read_text()
    assert f"sftp_port = {project.sshd.port}" in conf and "sftp_host = 127.0.0.1" in conf  # from our connection
    user = project.sshd.users[COUNCIL]
    with open(pack / "drop.conf", "a") as f:  # what the partner fills in once
        f.write(
            f"sftp_user = {user.name}\nlogin_key = {user.key}\nknown_hosts = {project.sshd.known_hosts}\n"
            f"signing_key = {project.partner_keys[COUNCIL].signing_key}\n"
        )

    desk = tmp_path / "council-desk"  # the partner's own folder: their CSV stays as it was
    desk.mkdir()
    plain = shutil.copy(clients_csv(project.work, n=25, name="clients_20261127.csv"), desk)
    before = (desk / "clients_20261127.csv").read_bytes()
    env = partner_env(tmp_path)
    drop = subprocess.run(["sh", str(pack / "drop.sh"), str(plain)], env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert drop.returncode == 0, drop.stderr
    assert "sent clients_20261127.csv.age (25 rows, feed council-clients)" in drop.stdout
    assert (desk / "clients_20261127.csv").read_bytes() == before
    outbox = project.outbox(COUNCIL)
    assert sorted(p.name for p in outbox.iterdir()) == [
        "clients_20261127.csv.age", "clients_20261127.csv.age.manifest.json",
        "clients_20261127.csv.age.manifest.json.sig",
    ]  # fmt: skip

    assert run_dag("inbound_council_clients")[0] == "success"
    with engine_for("crosswalk_db").connect() as conn:
        staged = conn.execute(text("SELECT batch_id, rows_staged FROM batch WHERE status = 'staged'")).all()
    assert [rows for _, rows in staged] == [25]
    batch_id = staged[0][0]

    fetch = subprocess.run(["sh", str(pack / "drop.sh"), "--fetch"], env=env, capture_output=True, text=True,
                           timeout=60)  # fmt: skip
    assert fetch.returncode == 0, fetch.stderr
    receipt = pack / "received" / "receipts" / f"crosswalk-receipt_{batch_id}.json"
    assert f"verified  received/receipts/{receipt.name}.sig" in fetch.stdout.splitlines()
    assert "NOT VERIFIED" not in fetch.stdout
    body = json.loads(receipt.read_bytes())
    assert (body["outcome"], body["rows_staged"], body["reason_code"]) == ("staged", 25, None)
    # And by hand, as the guide says, with nothing but ssh-keygen and the pack's allowed_signers.
    operator = project.cfg.settings.operator.code
    with open(receipt, "rb") as signed:
        verify = subprocess.run(
            ["ssh-keygen", "-Y", "verify", "-f", str(pack / "allowed_signers"), "-I", operator,
             "-n", "crosswalk-receipt", "-s", f"{receipt}.sig"], stdin=signed, env=env, capture_output=True, text=True,
        )  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    assert 'Good "crosswalk-receipt" signature' in verify.stdout

    # A receipt planted in the inbox by someone without our key (here: ours, altered, with our signature beside
    # it) is fetched like the rest, and reported NOT VERIFIED, exit 1.
    planted = project.inbox(COUNCIL) / "receipts" / "crosswalk-receipt_council-clients-0000000000000000.json"
    planted.write_bytes(receipt.read_bytes().replace(b'"rows_staged": 25', b'"rows_staged": 26'))
    shutil.copy(f"{receipt}.sig", f"{planted}.sig")
    forged = subprocess.run(["sh", str(pack / "drop.sh"), "--fetch"], env=env, capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert forged.returncode == 1
    assert f"NOT VERIFIED  received/receipts/{planted.name}.sig: do not trust it; tell us" in forged.stdout
    assert f"verified  received/receipts/{receipt.name}.sig" in forged.stdout


def test_an_openpgp_partner_drops_with_the_pack_script(project, pgp, tmp_path):
    """The same script for a partner on GnuPG: signs with their own key in their keyring, encrypts to the pack's
    copy of our public key (never imported, never trusted by hand), lists our fingerprint in the manifest."""
    us, council, _ = pgp
    pack = tmp_path / "pack"
    assert main(["partner", "pack", COUNCIL, "-o", str(pack), "--config", str(project.config_dir)]) == 0
    assert (pack / "crosswalk-openpgp.asc").read_text().startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    user = project.sshd.users[COUNCIL]
    with open(pack / "drop.conf", "a") as f:
        f.write(
            f"sftp_user = {user.name}\nlogin_key = {user.key}\nknown_hosts = {project.sshd.known_hosts}\n"
            f"signing_key = {project.partner_keys[COUNCIL].signing_key}\nopenpgp_signer = {council.email}\n"
        )
    plain = clients_csv(project.work, n=12, name="clients_20261128.csv")
    env = {**partner_env(tmp_path), "GNUPGHOME": str(council.home)}
    drop = subprocess.run(["sh", str(pack / "drop.sh"), str(plain)], env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert drop.returncode == 0, drop.stderr
    manifest = json.loads((project.outbox(COUNCIL) / "clients_20261128.csv.gpg.manifest.json").read_text())
    ours = us.gpg("--with-colons", "--fingerprint").stdout.decode().split("fpr:::::::::")[1].split(":")[0]
    assert (manifest["encryption"], manifest["recipients"]) == ("openpgp", [ours])

    assert run_dag("inbound_council_clients")[0] == "success"
    with engine_for("crosswalk_db").connect() as conn:
        assert conn.execute(text("SELECT rows_staged FROM batch WHERE status = 'staged'")).scalars().all() == [12]
