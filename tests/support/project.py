"""A Crosswalk deployment for one test: config pointing at the test sshd, keys, connections, database.

The shipped config is copied and only keys are replaced (the test server's host key, and fresh
age and signing keys for us and each partner), so tests exercise the real configuration files.
Partners act with the standard tools: `age` encrypts, `ssh-keygen -Y sign` signs, `sftp` uploads.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from crosswalk import partner as partner_side
from crosswalk.config.loader import ProjectConfig, load_config
from crosswalk.crypto import age
from crosswalk.demo.synthetic import (
    CLIENT_COLUMNS,
    INDEX_COLUMNS,
    LIST_COLUMNS,
    client_rows,
    index_rows,
    list_rows,
    people,
    write_csv,
)
from tests.conftest import REPO
from tests.support.sshd import Sshd


def conn_env_name(conn_id: str) -> str:
    return "AIRFLOW_CONN_" + conn_id.upper()


@dataclass
class PartnerKeys:
    identity: age.Identity  # what the partner decrypts our deliveries with
    signing_key: Path  # OpenSSH Ed25519 private key the partner signs manifests with


@dataclass
class Project:
    config_dir: Path
    db_url: str
    sshd: Sshd
    cfg: ProjectConfig
    work: Path
    our_identity: age.Identity
    our_signing_key: Path
    partner_keys: dict[str, PartnerKeys]
    pseudonym_keys: dict[str, str] = field(default_factory=dict)  # connection id -> hex key
    disclosure_key: str = field(default_factory=lambda: secrets.token_hex(32))  # ours, for the disclosure log

    def reload(self) -> None:
        """Pick up edits to the config copy (and give any new pseudonymisation key reference a key)."""
        self.cfg = load_config(self.config_dir)
        for history in self.cfg.agreements.values():
            for a in history.versions:
                if a.pseudonymisation_key_conn_id:
                    self.pseudonym_keys.setdefault(a.pseudonymisation_key_conn_id, secrets.token_hex(32))

    def env(self) -> dict[str, str]:
        import json

        keys = self.cfg.settings.keys
        env = {
            "AIRFLOW__CROSSWALK__CONFIG_DIR": str(self.config_dir),
            conn_env_name(keys.age_identities_conn_id): json.dumps(
                {"conn_type": "crosswalk_age", "password": self.our_identity.secret()}
            ),
            conn_env_name(keys.signing_key_conn_id): json.dumps(
                {"conn_type": "crosswalk_signing_key", "extra": {"private_key": self.our_signing_key.read_text()}}
            ),
        }
        for code, p in self.cfg.partners.items():
            env[conn_env_name(p.sftp.conn_id)] = self.sshd.connection_json(code)
        env[conn_env_name(keys.disclosure_key_conn_id)] = json.dumps(
            {"conn_type": "crosswalk_pseudonymisation_key", "password": self.disclosure_key}
        )
        for conn_id, key in self.pseudonym_keys.items():
            env[conn_env_name(conn_id)] = json.dumps({"conn_type": "crosswalk_pseudonymisation_key", "password": key})
        if self.db_url.startswith("sqlite"):
            db = {"conn_type": "sqlite", "host": self.db_url.removeprefix("sqlite:///")}
        else:
            from sqlalchemy.engine import make_url

            u = make_url(self.db_url)
            db = {"conn_type": "postgres", "host": u.host, "port": u.port, "login": u.username, "schema": u.database}
        env[conn_env_name(self.cfg.settings.database_conn_id)] = json.dumps(db)
        return env

    def drop(
        self,
        partner: str,
        plain: Path,
        *,
        feed: str,
        schema_id: str,
        edit_ciphertext=None,
        edit_after_manifest=None,
        edit_manifest=None,
        signer: Path | None = None,
        omit: tuple[str, ...] = (),
    ) -> Path:
        """Drop as the partner would: encrypt with `age`, write the manifest, sign it with `ssh-keygen -Y
        sign`, upload data, manifest and signature in that order with `sftp`. Hooks let a test break
        any step. Returns the encrypted file's local path."""
        import json

        recipient = self.our_identity.recipient
        enc = partner_side.encrypt(plain, recipient, tools=True)
        if edit_ciphertext:
            edit_ciphertext(enc)  # before the manifest: hashes match, the content is broken
        mpath = partner_side.write_manifest(
            plain, enc, feed=feed, schema_id=schema_id, sender=partner, recipients=[recipient]
        )
        if edit_manifest:
            mpath.write_bytes(json.dumps(edit_manifest(json.loads(mpath.read_bytes()))).encode())
        if edit_after_manifest:
            edit_after_manifest(enc)  # after the manifest: the file no longer matches it
        spath = partner_side.sign(mpath, signer or self.partner_keys[partner].signing_key, tools=True)
        outbox = self.cfg.partners[partner].sftp.paths.outbox
        puts = [f"put {p} {outbox}/{p.name}" for p in (enc, mpath, spath) if p.name not in omit]
        self.sshd.sftp_cli(partner, "\n".join(puts) + "\n")
        return enc

    def decrypt_delivery(self, partner: str, path: Path) -> bytes:
        """Open a delivered file as the partner would, with the `age` CLI."""
        import subprocess

        key = self.work / f"{partner}.agekey"
        key.write_text(age.identity_file_text(self.partner_keys[partner].identity))
        return subprocess.run(["age", "-d", "-i", str(key), str(path)], check=True, capture_output=True).stdout

    def outbox(self, partner: str) -> Path:
        return self.sshd.users[partner].path(self.cfg.partners[partner].sftp.paths.outbox)

    def inbox(self, partner: str) -> Path:
        return self.sshd.users[partner].path(self.cfg.partners[partner].sftp.paths.inbox)

    def quarantine(self, partner: str) -> Path:
        return self.sshd.users[partner].path(self.cfg.partners[partner].sftp.paths.quarantine)


def edit_yaml(path: Path, change: Callable[[dict], object] | None = None, /, **keys: Any) -> None:
    """Edit a test's copy of a YAML config file: ``change(doc)`` if given, then set the top-level ``keys``."""
    doc = yaml.safe_load(path.read_text())
    if change is not None:
        change(doc)
    doc.update(keys)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _ssh_key(path: Path) -> Path:
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)], check=True)
    return path


def without_row_rules(config_dir: Path) -> None:
    """The shipped agreements with every recipient at ``population: all``: for the tests of transfer, crash
    safety and levels, whose extracts are not matched first. The row rules themselves are tested on both stores
    in tests/pipeline/test_identifiers_back.py, through Airflow by the demo and hostile suites, and in compose."""
    for path in (config_dir / "agreements").glob("*.yaml"):
        edit_yaml(path, lambda d: [r.update(population="all") for r in d["recipients"]])


def make_project(tmp: Path, sshd: Sshd, db_url: str, *, row_rules: bool = False) -> Project:
    """A deployment on the real sshd; ``row_rules=False`` (the default) sets aside the agreements' population
    rules (:func:`without_row_rules`); with them, the governed lists must be received first (:func:`LISTS`)."""
    keys = tmp / "keys"
    keys.mkdir()
    partner_keys = {
        code: PartnerKeys(age.Identity.generate(), _ssh_key(keys / f"{code}-signing")) for code in sshd.users
    }
    config_dir = tmp / "config"
    shutil.copytree(REPO / "config", config_dir)
    for path in (config_dir / "partners").glob("*.yaml"):
        doc = yaml.safe_load(path.read_text())
        pk = partner_keys[doc["code"]]
        doc["sftp"]["host_keys"] = [sshd.host_key_pub]
        doc["encryption"]["recipients"] = [{"key": pk.identity.recipient}]
        doc["signing_keys"] = [" ".join(pk.signing_key.with_suffix(".pub").read_text().split()[:2])]
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    if not row_rules:
        without_row_rules(config_dir)
    cfg = load_config(config_dir)
    work = tmp / "work"
    work.mkdir()
    project = Project(
        config_dir, db_url, sshd, cfg, work, age.Identity.generate(), _ssh_key(keys / "crosswalk-signing"), partner_keys
    )
    project.reload()
    return project


def clients_csv(work: Path, n: int = 40, name: str = "clients_20261121.csv", seed: int = 7) -> Path:
    return write_csv(client_rows(people(n, seed)), CLIENT_COLUMNS, work / name)


def index_csv(work: Path, n: int = 60, name: str = "chi_index_20261121.csv", seed: int = 7) -> Path:
    return write_csv(index_rows(people(n, seed)), INDEX_COLUMNS, work / name)


def list_csv(work: Path, name: str, *, chis=(), source_ids=()) -> Path:
    """A person list (objections or restricted records) as a partner drops it; empty by default."""
    return write_csv(list_rows(chis=list(chis), source_ids=list(source_ids)), LIST_COLUMNS, work / name)


# The shipped agreements withhold the people on these lists, so no disclosure leaves before each is received.
LISTS = {"council-objections": "objections_20261121.csv", "health-restricted": "restricted_20261121.csv"}


@dataclass
class EnvPatch:
    values: dict[str, str]

    def __enter__(self):
        self.saved = {k: os.environ.get(k) for k in self.values}
        os.environ.update(self.values)
        return self

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def clear_after(project) -> None:
    """After a test of a deployment: close our pools, empty every partner folder of its sshd, and empty the
    PostgreSQL database it used (SQLite goes with the test's directory)."""
    import shutil

    from crosswalk.orchestration.connections import dispose_engines

    dispose_engines()
    for user in project.sshd.users.values():
        for sub in ("inbox", "outbox", "quarantine"):
            for child in (user.root / sub).iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    if not project.db_url.startswith("sqlite"):
        from sqlalchemy import create_engine, text

        eng = create_engine(project.db_url)
        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        eng.dispose()
