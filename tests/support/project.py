"""A Crosswalk deployment for one test: config pointing at the test sshd, connections, database.

The shipped config is copied and only the partners' pinned host keys are replaced with the test
server's, so tests exercise the real configuration files.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from crosswalk.config.loader import ProjectConfig, load_config
from crosswalk.demo.synthetic import CLIENT_COLUMNS, INDEX_COLUMNS, client_rows, index_rows, people, write_csv
from crosswalk.manifest import manifest_for_file, manifest_name
from tests.conftest import REPO
from tests.support.sshd import Sshd


def conn_env_name(conn_id: str) -> str:
    return "AIRFLOW_CONN_" + conn_id.upper()


@dataclass
class Project:
    config_dir: Path
    db_url: str
    sshd: Sshd
    cfg: ProjectConfig
    work: Path

    def env(self) -> dict[str, str]:
        import json

        env = {"AIRFLOW__CROSSWALK__CONFIG_DIR": str(self.config_dir)}
        for code, p in self.cfg.partners.items():
            env[conn_env_name(p.sftp.conn_id)] = self.sshd.connection_json(code)
        if self.db_url.startswith("sqlite"):
            db = {"conn_type": "sqlite", "host": self.db_url.removeprefix("sqlite:///")}
        else:
            from sqlalchemy.engine import make_url

            u = make_url(self.db_url)
            db = {"conn_type": "postgres", "host": u.host, "port": u.port, "login": u.username, "schema": u.database}
        env[conn_env_name(self.cfg.settings.database_conn_id)] = json.dumps(db)
        return env

    def drop(self, partner: str, data: Path, *, feed: str, schema_id: str, manifest: bytes | None = None) -> None:
        """Drop a file as the partner would: the data file first, the manifest last, with OpenSSH sftp."""
        outbox = self.cfg.partners[partner].sftp.paths.outbox
        if manifest is None:
            manifest = manifest_for_file(data, feed=feed, schema_id=schema_id, sender=partner).to_json()
        mpath = data.parent / manifest_name(data.name)
        mpath.write_bytes(manifest)
        self.sshd.sftp_cli(partner, f"put {data} {outbox}/{data.name}\nput {mpath} {outbox}/{mpath.name}\n")

    def outbox(self, partner: str) -> Path:
        return self.sshd.users[partner].path(self.cfg.partners[partner].sftp.paths.outbox)

    def inbox(self, partner: str) -> Path:
        return self.sshd.users[partner].path(self.cfg.partners[partner].sftp.paths.inbox)

    def quarantine(self, partner: str) -> Path:
        return self.sshd.users[partner].path(self.cfg.partners[partner].sftp.paths.quarantine)


def make_project(tmp: Path, sshd: Sshd, db_url: str) -> Project:
    config_dir = tmp / "config"
    shutil.copytree(REPO / "config", config_dir)
    for path in (config_dir / "partners").glob("*.yaml"):
        doc = yaml.safe_load(path.read_text())
        doc["sftp"]["host_keys"] = [sshd.host_key_pub]
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    cfg = load_config(config_dir)
    work = tmp / "work"
    work.mkdir()
    return Project(config_dir, db_url, sshd, cfg, work)


def clients_csv(work: Path, n: int = 40, name: str = "clients_20261121.csv", seed: int = 7) -> Path:
    return write_csv(client_rows(people(n, seed)), CLIENT_COLUMNS, work / name)


def index_csv(work: Path, n: int = 60, name: str = "chi_index_20261121.csv", seed: int = 7) -> Path:
    return write_csv(index_rows(people(n, seed)), INDEX_COLUMNS, work / name)


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
