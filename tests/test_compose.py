"""docker-compose.yaml: the official Airflow 3.3 layout plus two partner SFTP servers, validated by
`docker-compose config` (no Docker engine runs here); and `make compose-keys` provisioning them."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import yaml

from crosswalk.config.loader import load_config
from tests.conftest import REPO
from tests.support.env import require

WORKERS = ["airflow-worker-1", "airflow-worker-2"]
AIRFLOW = ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", *WORKERS]


@pytest.fixture(scope="module")
def compose() -> dict:
    exe = shutil.which("docker-compose")
    require(None if exe else "Debian's docker-compose is not installed (apt-get install docker-compose)")
    out = subprocess.run([exe, "-f", str(REPO / "docker-compose.yaml"), "config"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def _words(command) -> list[str]:
    # docker-compose 1.x prints a command as written (a string); 2.x as a list.
    return command.split() if isinstance(command, str) else list(command)


def _mount(volume) -> tuple[str, str]:
    """(source relative to the repository, target) of a bind mount, in either version's output."""
    if isinstance(volume, dict):
        return volume["source"].removeprefix(str(REPO)), volume["target"]
    source, target = volume.split(":")[:2]
    return source.removeprefix(str(REPO)), target


def test_the_official_layout_with_celery_redis_and_postgres(compose):
    services = compose["services"]
    assert set([*AIRFLOW, "airflow-init", "postgres", "redis", "sftp-council", "sftp-nhs"]) <= set(services)
    commands = {name: " ".join(_words(services[name]["command"])) for name in AIRFLOW}
    assert commands == {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
        "airflow-worker-1": "celery worker",
        "airflow-worker-2": "celery worker",
    }
    # Two Celery workers with hostnames of their own (what a task instance's hostname shows).
    assert [services[w]["hostname"] for w in WORKERS] == ["worker-1", "worker-2"]
    env = services["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert (
        env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
        and "@postgres/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    )
    assert all("healthcheck" in services[name] for name in [*AIRFLOW, "postgres", "redis"])


def test_every_airflow_service_mounts_the_bundle_and_names_every_connection_the_config_needs(compose):
    cfg = load_config()
    needed = {
        cfg.settings.database_conn_id,
        cfg.settings.keys.age_identities_conn_id,
        cfg.settings.keys.signing_key_conn_id,
        cfg.settings.keys.disclosure_key_conn_id,
    }
    needed |= {p.sftp.conn_id for p in cfg.partners.values()}
    needed |= {
        a.pseudonymisation_key_conn_id
        for h in cfg.agreements.values()
        for a in h.versions
        if a.pseudonymisation_key_conn_id
    }
    for name in AIRFLOW:
        service = compose["services"][name]
        mounts = {_mount(v) for v in service["volumes"]}
        for part in ("dags", "plugins", "include", "config"):
            assert (f"/{part}", f"/opt/crosswalk/{part}") in mounts, (name, part)
        env = service["environment"]
        assert {f"AIRFLOW_CONN_{c.upper()}" for c in needed} <= set(env), name
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/crosswalk"
    hosts = {p.sftp.conn_id: p.code for p in cfg.partners.values()}
    env = compose["services"]["airflow-worker-2"]["environment"]
    import json

    sftp_hosts = {json.loads(env[f"AIRFLOW_CONN_{c.upper()}"])["host"] for c in hosts}
    assert sftp_hosts == {"sftp-council", "sftp-nhs"}


def test_each_worker_has_its_own_tmpfs_work_root_that_survives_a_restart(compose):
    """`tmpfs:` mounts lose their mode when Docker restarts a killed container (root 0755: no work root, every
    task failed); a local volume of type tmpfs is mounted with its options every time."""
    services, volumes = compose["services"], compose["volumes"]
    env = services["airflow-worker-1"]["environment"]
    assert env["CROSSWALK_WORK_DIR"].startswith("/crosswalk-work/")
    work = {}
    for name in WORKERS:
        [volume] = [source for source, target in map(_mount, services[name]["volumes"]) if target == "/crosswalk-work"]
        work[name] = volume
        opts = volumes[volume]["driver_opts"]
        assert (opts["type"], opts["device"]) == ("tmpfs", "tmpfs")
        assert {"mode=0700", "uid=50000", "gid=0"} <= set(opts["o"].split(","))
    assert len(set(work.values())) == len(WORKERS)  # never shared: a worker's sweep must see only its own tasks
    assert not [name for name, service in services.items() if "tmpfs" in service]


def test_compose_keys_provisions_host_keys_users_and_a_config_pinning_them(tmp_path):
    require(None if shutil.which("ssh-keygen") else "ssh-keygen")
    out = subprocess.run(
        [sys.executable, str(REPO / "docker" / "compose_keys.py"), str(tmp_path)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    cfg = load_config(tmp_path / ".compose" / "config")
    for code in ("northshire-council", "nhs-northshire"):
        box = tmp_path / ".compose" / "sftp" / code
        host_pub = " ".join((box / "ssh_host_ed25519_key.pub").read_text().split()[:2])
        assert cfg.partners[code].sftp.host_keys == [host_pub]
        assert (box / "authorized_keys" / "crosswalk").read_text().startswith("ssh-ed25519 ")
        assert (box / "authorized_keys" / "partner").read_text().startswith("ssh-ed25519 ")
    dotenv = (tmp_path / ".env").read_text()
    assert "AIRFLOW_CONN_CROSSWALK_AGE_IDENTITIES=" in dotenv and "CROSSWALK_CONFIG_DIR=" in dotenv
    assert (tmp_path / ".env").stat().st_mode & 0o077 == 0  # secrets: readable by the owner only
