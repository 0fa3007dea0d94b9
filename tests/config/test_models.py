"""Each kind of bad config file is rejected with a message naming the file, the field and why."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from crosswalk.config.loader import load_config
from crosswalk.config.models import parse_host_key
from crosswalk.errors import ConfigErrors
from tests.conftest import REPO


@pytest.fixture
def cfg_dir(tmp_path):
    shutil.copytree(REPO / "config", tmp_path / "config")
    shutil.copytree(REPO / "include" / "schemas", tmp_path / "schemas")
    return tmp_path


def _edit(path, fn):
    doc = yaml.safe_load(path.read_text())
    fn(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _problems(root) -> list[str]:
    with pytest.raises(ConfigErrors) as exc:
        load_config(root / "config", root / "schemas")
    return [str(e) for e in exc.value.errors]


def test_shipped_config_is_valid():
    cfg = load_config(REPO / "config", REPO / "include" / "schemas")
    assert set(cfg.feeds) == {"council-clients", "health-index", "clients-to-health"}
    assert set(cfg.schemas) == {"social_care_client", "health_board_index"}


BAD = {
    # name: (file, edit, expected "field: reason" fragment)
    "unknown key": ("feeds/council-clients.yaml", lambda d: d.update(file_patern="x"), "file_patern: unknown key"),
    "missing key": (
        "feeds/council-clients.yaml",
        lambda d: d.pop("file_pattern"),
        "file_pattern: required but missing",
    ),
    "bad schedule": ("feeds/council-clients.yaml", lambda d: d.update(schedule="sometimes"), "schedule: Value error"),
    "unknown partner": (
        "feeds/council-clients.yaml",
        lambda d: d.update(partner="nobody"),
        "partner: no partner 'nobody'",
    ),
    "unknown schema": (
        "feeds/council-clients.yaml",
        lambda d: d.update(schema="no_such_schema"),
        "schema: no table schema 'no_such_schema'",
    ),
    "level out of range": (
        "agreements/northshire-isp.yaml",
        lambda d: d["recipients"][0].update(level=5),
        "recipients.0.level: Input should be less than or equal to 4",
    ),
    "column without a rule": (
        "agreements/northshire-isp.yaml",
        lambda d: d["datasets"]["social_care_client"]["fields"].pop("postcode"),
        "no rule for schema column(s) ['postcode']",
    ),
    "garbled host key": (
        "partners/northshire-council.yaml",
        lambda d: d["sftp"].update(host_keys=["ssh-ed25519 not-base64!"]),
        "sftp.host_keys: Value error, host key 1: key data is not valid base64",
    ),
    "dsa host key": (
        "partners/northshire-council.yaml",
        lambda d: d["sftp"].update(host_keys=["ssh-dss AAAA"]),
        "key type 'ssh-dss' is not accepted",
    ),
    "no host key": (
        "partners/northshire-council.yaml",
        lambda d: d["sftp"].update(host_keys=[]),
        "sftp.host_keys: List should have at least 1 item",
    ),
    "relative path": (
        "partners/northshire-council.yaml",
        lambda d: d["sftp"]["paths"].update(inbox="inbox"),
        "sftp.paths.inbox: Value error, must be an absolute path",
    ),
    "openpgp without keys": (
        "partners/northshire-council.yaml",
        lambda d: d.update(encryption={"method": "openpgp"}),
        "encryption: Value error, method 'openpgp' needs at least one key in 'openpgp_keys'",
    ),
    "unsigned partner": (
        "partners/northshire-council.yaml",
        lambda d: d.update(signing_keys=[]),
        "signing_keys: List should have at least 1 item",
    ),
    "retries below two": ("crosswalk.yaml", lambda d: d.update(retries=1), "retries: Input should be greater"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_file_is_rejected_with_file_field_and_reason(cfg_dir, case):
    rel, edit, expected = BAD[case]
    _edit(cfg_dir / "config" / rel, edit)
    problems = _problems(cfg_dir)
    assert any(p.startswith(str(cfg_dir / "config" / rel)) and expected in p for p in problems), problems


def test_duplicate_feed_id_is_rejected(cfg_dir):
    shutil.copy(cfg_dir / "config/feeds/council-clients.yaml", cfg_dir / "config/feeds/copy.yaml")
    assert any("id: feed 'council-clients' is already defined in " in p for p in _problems(cfg_dir))


def test_invalid_table_schema_is_rejected(cfg_dir):
    path = cfg_dir / "schemas" / "social_care_client.json"
    path.write_text(path.read_text().replace('"type": "date"', '"type": "datetime-ish"', 1))
    assert any(
        "type 'datetime-ish' is not supported" in p or "not a valid Table Schema" in p for p in _problems(cfg_dir)
    )


def test_host_key_blob_must_match_its_type():
    ed = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICfVmTOl1apIbf4eB7l235NaxCJ0pGYRuWaydQzeXWyo"
    assert parse_host_key(ed)[0] == "ssh-ed25519"
    with pytest.raises(ValueError, match="key data is for 'ssh-ed25519', not 'ecdsa-sha2-nistp256'"):
        parse_host_key(ed.replace("ssh-ed25519", "ecdsa-sha2-nistp256"))


def test_crosswalk_check_command(cfg_dir):
    cli = str(REPO / ".venv" / "bin" / "crosswalk")
    ok = subprocess.run([cli, "check"], capture_output=True, text=True)
    assert ok.returncode == 0 and "crosswalk check: OK" in ok.stdout
    _edit(cfg_dir / "config/feeds/health-index.yaml", lambda d: d.update(partner="nhs-elsewhere"))
    bad = subprocess.run(
        [cli, "check", "--config", str(cfg_dir / "config"), "--schemas", str(cfg_dir / "schemas")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1
    assert f"{cfg_dir}/config/feeds/health-index.yaml: partner: no partner 'nhs-elsewhere'" in bad.stderr


def test_reference_to_an_invalid_file_says_invalid_not_missing(cfg_dir):
    _edit(cfg_dir / "config/agreements/northshire-isp.yaml", lambda d: d["recipients"][0].update(level=7))
    problems = _problems(cfg_dir)
    assert any(
        p.endswith(
            "clients-to-health.yaml: agreement: agreement 'northshire-isp' is invalid "
            "(see the problems in northshire-isp.yaml)"
        )
        for p in problems
    ), problems
