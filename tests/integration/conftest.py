from __future__ import annotations

import json
import shutil

import pytest

from tests.support.env import require
from tests.support.gpg import Party
from tests.support.project import EnvPatch, clear_after, edit_yaml, make_project

COUNCIL, NHS = "northshire-council", "nhs-northshire"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'crosswalk.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def project(tmp_path, sshd, db_url, airflow_db):
    """A deployment wired to the real sshd and database; partner folders emptied afterwards."""
    import shutil

    from tests.support.env import require

    require(None if shutil.which("age") else "the age CLI is not installed (apt-get install age)")

    proj = make_project(tmp_path, sshd, db_url)
    with EnvPatch(proj.env()):
        yield proj
    clear_after(proj)


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
