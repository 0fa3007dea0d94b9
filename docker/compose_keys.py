"""Keys and a pinned config for the docker-compose stack: run once with `make compose-keys`.

Writes, all git-ignored:
- ``.compose/sftp/<partner>/``: the SFTP container's host key, and authorized keys for the users
  ``crosswalk`` (our login) and ``partner`` (the organisation's staff);
- ``.compose/secrets/crosswalk_sftp_ed25519``: our SFTP login key;
- ``.compose/partners/<partner>/``: what the partner keeps (its age identity, signing and login keys);
- ``.compose/config/``: a copy of ``config/`` pinning the containers' host keys and the partners' keys;
- ``.compose/passwords.json``: the Airflow UI password for ``ops``;
- ``.env``: our age identity, signing key, pseudonymisation keys, Fernet and JWT secrets, and
  ``CROSSWALK_CONFIG_DIR`` pointing at the pinned config copy.
Rerunning keeps what exists (host keys stay pinned).
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
from base64 import urlsafe_b64encode
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

from crosswalk.crypto import age  # noqa: E402

PARTNERS = {"northshire-council": "sftp-council", "nhs-northshire": "sftp-nhs"}


def ssh_key(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)], check=True)
    return " ".join(path.with_suffix(".pub").read_text().split()[:2])


def age_identity(path: Path) -> age.Identity:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(age.identity_file_text(age.Identity.generate()))
    secret = next(line for line in path.read_text().splitlines() if line.startswith("AGE-SECRET-KEY-"))
    return age.Identity.parse(secret)


def main(argv: list[str]) -> None:
    # Another directory for trials and tests: ``compose_keys.py DIR`` writes DIR/.compose and DIR/.env.
    base = Path(argv[0]).resolve() if argv else ROOT
    out = base / ".compose"
    ours = ssh_key(out / "secrets" / "crosswalk_sftp_ed25519")
    signing = out / "secrets" / "crosswalk_signing_ed25519"
    ssh_key(signing)
    our_age = age_identity(out / "secrets" / "crosswalk.agekey")
    config = out / "config"
    shutil.rmtree(config, ignore_errors=True)
    shutil.copytree(ROOT / "config", config)
    for code in PARTNERS:
        box = out / "sftp" / code
        host_pub = ssh_key(box / "ssh_host_ed25519_key")
        staff = out / "partners" / code
        partner_login = ssh_key(staff / "login_ed25519")
        partner_signing = ssh_key(staff / "signing_ed25519")
        partner_age = age_identity(staff / "partner.agekey")
        keys = box / "authorized_keys"
        keys.mkdir(exist_ok=True)
        (keys / "crosswalk").write_text(ours + "\n")
        (keys / "partner").write_text(partner_login + "\n")
        path = config / "partners" / f"{code}.yaml"
        doc = yaml.safe_load(path.read_text())
        doc["sftp"]["host_keys"] = [host_pub]
        doc["encryption"]["recipients"] = [{"key": partner_age.recipient}]
        doc["signing_keys"] = [partner_signing]
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    passwords = out / "passwords.json"
    if not passwords.exists():
        passwords.write_text(json.dumps({"ops": secrets.token_urlsafe(16)}))
    env = {
        "CROSSWALK_CONFIG_DIR": "/opt/crosswalk/local/config",
        "AIRFLOW_FERNET_KEY": urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "AIRFLOW_JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW_CONN_CROSSWALK_AGE_IDENTITIES": json.dumps(
            {"conn_type": "crosswalk_age", "password": our_age.secret()}
        ),
        "AIRFLOW_CONN_CROSSWALK_SIGNING_KEY": json.dumps(
            {"conn_type": "crosswalk_signing_key", "extra": {"private_key": signing.read_text()}}
        ),
        "AIRFLOW_CONN_CROSSWALK_DISCLOSURE_KEY": json.dumps(
            {"conn_type": "crosswalk_pseudonymisation_key", "password": secrets.token_hex(32)}
        ),
        "AIRFLOW_CONN_CROSSWALK_PSEUDONYM_NORTHSHIRE_ISP": json.dumps(
            {"conn_type": "crosswalk_pseudonymisation_key", "password": secrets.token_hex(32)}
        ),
        "CROSSWALK_DB_PASSWORD": secrets.token_urlsafe(24),
    }
    # The Airflow containers run as uid 50000 in group 0 (the official image's contract): what they read is
    # group-readable by group 0 and nobody else; the UI password file is group-writable (Airflow's simple auth
    # manager opens it for appending).
    for secret in (out / "secrets").iterdir():
        secret.chmod(0o640)
    passwords.chmod(0o660)
    dotenv = base / ".env"
    # Keep the secrets of an existing stack; add only what it lacks.
    have = {ln.split("=", 1)[0] for ln in dotenv.read_text().splitlines()} if dotenv.exists() else set()
    with dotenv.open("a") as f:
        f.write("".join(f"{k}='{v}'\n" for k, v in env.items() if k not in have))
    dotenv.chmod(0o600)
    print(f"compose-keys: wrote {out}/ and {dotenv}; UI user 'ops', password in {passwords}")


if __name__ == "__main__":
    main(sys.argv[1:])
