"""A partner on OpenPGP end to end: its gpg-signed, gpg-encrypted drop is staged; our delivery opens with gpg.

The manifest is still signed with the partner's SSH key (every partner logs in with one); the
payload itself carries the partner's OpenPGP signature, checked against its pinned OpenPGP key.
"""

from __future__ import annotations

import json
import shutil

import pytest
from sqlalchemy import text

from crosswalk import partner as partner_side
from crosswalk.orchestration.connections import engine_for
from tests.support.airflow import run_dag
from tests.support.env import require
from tests.support.gpg import Party
from tests.support.inbox import inbox_entries
from tests.support.project import EnvPatch, clients_csv, edit_yaml

pytestmark = [pytest.mark.sshd, pytest.mark.airflow]
COUNCIL, NHS = "northshire-council", "nhs-northshire"


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'crosswalk.db'}"


@pytest.fixture
def pgp(project, tmp_path):
    """Switch both partners to OpenPGP; give us an OpenPGP key through a connection."""
    require(None if shutil.which("gpg") else "GnuPG is not installed (apt-get install gnupg)")
    us, council, nhs = Party(tmp_path, "crosswalk"), Party(tmp_path, "council"), Party(tmp_path, "nhs")
    for code, party in ((COUNCIL, council), (NHS, nhs)):
        edit_yaml(
            project.config_dir / "partners" / f"{code}.yaml",
            encryption={"method": "openpgp", "openpgp_keys": [party.public]},
        )
    edit_yaml(
        project.config_dir / "crosswalk.yaml", lambda d: d["keys"].update(openpgp_key_conn_id="crosswalk_openpgp_key")
    )
    conn = {
        "AIRFLOW_CONN_CROSSWALK_OPENPGP_KEY": json.dumps({"conn_type": "generic", "extra": {"secret_key": us.secret}})
    }
    with EnvPatch(conn):
        yield us, council, nhs
    for p in (us, council, nhs):
        p.close()


def test_openpgp_partners_both_ways(project, pgp):
    us, council, nhs = pgp
    # The council, with plain gpg: sign and encrypt to us, compression off.
    plain = clients_csv(project.work, n=15)
    enc = plain.with_name(plain.name + ".gpg")
    council.import_key(us.public)
    council.gpg(
        "--compress-algo", "none", "--recipient", us.email, "--sign", "--encrypt", "--output", str(enc), str(plain)
    )
    fingerprint = us.gpg("--with-colons", "--fingerprint").stdout.decode().split("fpr:::::::::")[1].split(":")[0]
    mpath = partner_side.write_manifest(
        plain, enc, feed="council-clients", schema_id="social_care_client", sender=COUNCIL,
        recipients=[fingerprint], encryption="openpgp",
    )  # fmt: skip
    partner_side.sign(mpath, project.partner_keys[COUNCIL].signing_key, tools=True)
    project.sshd.sftp_cli(
        COUNCIL,
        "".join(f"put {p} /outbox/{p.name}\n" for p in (enc, mpath)) + f"put {mpath}.sig /outbox/{mpath.name}.sig\n",
    )

    state, tis = run_dag("inbound_council_clients")
    assert state == "success", tis
    with engine_for("crosswalk_db").connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM stg_social_care_client")).scalar_one() == 15

    state, tis = run_dag("outbound_clients_to_health")
    assert state == "success", tis
    [delivered] = [p for p in inbox_entries(project.inbox(NHS)) if p.name.endswith(".csv.gpg")]
    manifest = json.loads((project.inbox(NHS) / (delivered.name + ".manifest.json")).read_text())
    assert manifest["encryption"] == "openpgp" and len(manifest["recipients"][0]) == 40
    # The board, with plain gpg: decrypt and check our signature.
    nhs.import_key(us.public)
    out = nhs.gpg("--status-fd", "1", "--decrypt", str(delivered))
    assert b"[GNUPG:] GOODSIG" in out.stdout
    header = out.stdout.split(b"\n")
    assert any(line.startswith(b"source_id,chi_number") and b"last_assessment_date" not in line for line in header)
