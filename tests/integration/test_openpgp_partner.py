"""A partner on OpenPGP end to end: its gpg-signed, gpg-encrypted drop is staged; our delivery opens with gpg.

The manifest is still signed with the partner's SSH key (every partner logs in with one); the
payload itself carries the partner's OpenPGP signature, checked against its pinned OpenPGP key.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from crosswalk import partner as partner_side
from crosswalk.orchestration.connections import engine_for
from tests.support.airflow import run_dag
from tests.support.inbox import inbox_entries
from tests.support.project import clients_csv

pytestmark = [pytest.mark.sshd, pytest.mark.airflow]
COUNCIL, NHS = "northshire-council", "nhs-northshire"


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'crosswalk.db'}"


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
