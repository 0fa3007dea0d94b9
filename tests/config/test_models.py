"""Each kind of bad config file is rejected with a message naming the file, the field and why."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from datetime import date, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from crosswalk.config.loader import load_config
from crosswalk.crypto import age
from crosswalk.errors import ConfigErrors
from crosswalk.transfer.hostkeys import parse_host_key
from tests.conftest import REPO
from tests.support.project import edit_yaml


@pytest.fixture
def cfg_dir(tmp_path):
    shutil.copytree(REPO / "config", tmp_path / "config")
    shutil.copytree(REPO / "include" / "schemas", tmp_path / "schemas")
    return tmp_path


ISP = "agreements/northshire-isp.v2.yaml"


def _fields(doc: dict) -> dict:
    return doc["datasets"]["social_care_client"]["fields"]


def _field(doc: dict, name: str) -> dict:
    return _fields(doc)[name]


def _problems(root) -> list[str]:
    with pytest.raises(ConfigErrors) as exc:
        load_config(root / "config", root / "schemas")
    return [str(e) for e in exc.value.errors]


def test_shipped_config_is_valid():
    cfg = load_config(REPO / "config", REPO / "include" / "schemas")
    assert set(cfg.feeds) == {
        "council-clients", "health-index", "clients-to-health", "chi-numbers-to-council", "social-care-summary",
        "care-packages-open-data", "council-objections", "health-restricted",
    }  # fmt: skip
    assert set(cfg.schemas) == {
        "social_care_client", "health_board_index", "care_packages_by_area", "identifier_return", "person_list",
    }  # fmt: skip
    assert [a.version for a in cfg.agreements["northshire-isp"].versions] == [1, 2]


BAD = {
    # name: (file, edit, expected "field: reason" fragment)
    "unknown key": ("feeds/council-clients.yaml", lambda d: d.update(file_patern="x"), "file_patern: unknown key"),
    "missing key": (
        "feeds/council-clients.yaml",
        lambda d: d.pop("file_pattern"),
        "file_pattern: required but missing",
    ),
    "bad schedule": (
        "feeds/council-clients.yaml",
        lambda d: d.update(schedule="sometimes"),
        "schedule: 'sometimes' is not 'manual'",
    ),
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
        ISP,
        lambda d: d["recipients"][0].update(level=5),
        "recipients.0.level: must be at most 4",
    ),
    "field level out of range": (
        ISP,
        lambda d: _field(d, "postcode").update(min_level=0),
        "fields.postcode.min_level: must be at least 1",
    ),
    "catalogue misses a column": (
        ISP,
        lambda d: _fields(d).pop("postcode"),
        "datasets.social_care_client.fields: the catalogue misses schema column(s) ['postcode']",
    ),
    "catalogue entry for no column": (
        ISP,
        lambda d: _fields(d).update(
            religion={
                "description": "x",
                "classification": "special_category",
                "min_level": 4,
                "transform": {4: "pass"},
            }
        ),
        "catalogue entries for column(s) not in the schema: ['religion']",
    ),
    "unknown transform": (
        ISP,
        lambda d: _field(d, "surname").update(transform={1: "hash"}),
        "fields.surname.transform.1: unknown transform 'hash': use one of pass, drop, pseudonymise",
    ),
    "transform below the field's level": (
        ISP,
        lambda d: _field(d, "weekly_hours").update(transform={1: "mask", 2: "pass"}),
        "transform given for level(s) [1], below min_level 2 where the field is not shared",
    ),
    "direct identifier shared by omission": (
        ISP,
        lambda d: _field(d, "chi_number").pop("transform"),
        "a direct identifier must name its transform at min_level 1",
    ),
    "generalisation of the wrong type": (
        ISP,
        lambda d: _field(d, "postcode").update(transform={1: "generalise:month"}),
        "fields.postcode.transform.1: generalise:month needs a column of type date or datetime; postcode is string",
    ),
    "special category without Article 9": (
        ISP,
        lambda d: d["lawful_basis"].pop("article_9"),
        "lawful_basis.article_9 is required: the catalogue has special-category fields",
    ),
    "pseudonymised without a key": (
        ISP,
        lambda d: d.pop("pseudonymisation_key_conn_id"),
        "pseudonymisation_key_conn_id is required: a field is pseudonymised",
    ),
    "sign-off by a stranger": (
        ISP,
        lambda d: d["sign_off"].update({"nhs-elsewhere": {"name": "A", "role": "DPO", "date": "2026-01-01"}}),
        "sign_off names ['nhs-elsewhere'], who are not parties to the agreement",
    ),
    "ends before it starts": (
        ISP,
        lambda d: d.update(valid_until="2026-01-01"),
        "valid_until must be after valid_from",
    ),
    "open data with a record-level field": (
        "agreements/northshire-open-data.v1.yaml",
        lambda d: d["datasets"]["care_packages_by_area"]["fields"]["council_area"].update(
            classification="quasi_identifier"
        ),
        "an open_data agreement permits aggregates only; record-level field(s): ['council_area']",
    ),
    "open data to a partner": (
        "agreements/northshire-open-data.v1.yaml",
        lambda d: d["recipients"][0].update(partner="nhs-northshire"),
        "an open_data agreement has exactly one recipient, 'public'",
    ),
    "public under a sharing agreement": (
        ISP,
        lambda d: d["recipients"].append({"partner": "public", "level": 1, "population": "all"}),
        "'public' may only receive under an open_data agreement",
    ),
    "garbled host key": (
        "partners/northshire-council.yaml",
        lambda d: d["sftp"].update(host_keys=["ssh-ed25519 not-base64!"]),
        "sftp.host_keys: host key 1: key data is not valid base64",
    ),
    "dsa host key": (
        "partners/northshire-council.yaml",
        lambda d: d["sftp"].update(host_keys=["ssh-dss AAAA"]),
        "key type 'ssh-dss' is not accepted",
    ),
    "no host key": (
        "partners/northshire-council.yaml",
        lambda d: d["sftp"].update(host_keys=[]),
        "sftp.host_keys: needs at least 1 item(s)",
    ),
    "relative path": (
        "partners/northshire-council.yaml",
        lambda d: d["sftp"]["paths"].update(inbox="inbox"),
        "sftp.paths.inbox: must be an absolute path",
    ),
    "openpgp without keys": (
        "partners/northshire-council.yaml",
        lambda d: d.update(encryption={"method": "openpgp"}),
        "encryption: method 'openpgp' needs at least one key in 'openpgp_keys'",
    ),
    "unsigned partner": (
        "partners/northshire-council.yaml",
        lambda d: d.update(signing_keys=[]),
        "signing_keys: needs at least 1 item(s)",
    ),
    "retries below two": ("crosswalk.yaml", lambda d: d.update(retries=1), "retries: must be at least 2"),
    "more drops per run than Airflow can map": (
        "feeds/council-clients.yaml",
        lambda d: d.update(max_drops_per_run=5000),
        "max_drops_per_run: must be at most 1000",
    ),
    "no size limit": (
        "feeds/council-clients.yaml",
        lambda d: d.update(max_bytes=0),
        "max_bytes: must be at least 1",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_file_is_rejected_with_file_field_and_reason(cfg_dir, case):
    rel, edit, expected = BAD[case]
    edit_yaml(cfg_dir / "config" / rel, edit)
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
    ok = subprocess.run([cli, "check", "--offline"], capture_output=True, text=True)
    assert ok.returncode == 0 and "crosswalk check: OK" in ok.stdout
    edit_yaml(cfg_dir / "config/feeds/health-index.yaml", lambda d: d.update(partner="nhs-elsewhere"))
    bad = subprocess.run(
        [cli, "check", "--offline", "--config", str(cfg_dir / "config"), "--schemas", str(cfg_dir / "schemas")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1
    assert f"{cfg_dir}/config/feeds/health-index.yaml: partner: no partner 'nhs-elsewhere'" in bad.stderr


def test_reference_to_an_invalid_file_says_invalid_not_missing(cfg_dir):
    path = cfg_dir / "config/agreements/northshire-isp-health-to-council.v1.yaml"
    edit_yaml(path, lambda d: d["recipients"][0].update(level=7))
    problems = _problems(cfg_dir)
    assert any(
        p.endswith(
            "chi-numbers-to-council.yaml: agreement: agreement 'northshire-isp-health-to-council' is invalid "
            "(see the problems in northshire-isp-health-to-council.v1.yaml)"
        )
        for p in problems
    ), problems


def test_overlapping_versions_are_rejected(cfg_dir):
    edit_yaml(cfg_dir / "config" / "agreements/northshire-isp.v1.yaml", lambda d: d.update(valid_until="2026-06-30"))
    assert _problems(cfg_dir) == [
        f"{cfg_dir}/config/agreements/northshire-isp.v2.yaml: valid_from: northshire-isp v2 (from 2026-04-01) "
        "overlaps northshire-isp v1 (until 2026-06-30): versions of one agreement must not be in force at the same time"
    ]


def test_a_version_defined_twice_is_rejected(cfg_dir):
    shutil.copy(cfg_dir / "config/agreements/northshire-isp.v2.yaml", cfg_dir / "config/agreements/copy.yaml")
    assert _problems(cfg_dir) == [
        f"{cfg_dir}/config/agreements/northshire-isp.v2.yaml: version: "
        "northshire-isp v2 is already defined in copy.yaml"
    ]


def test_agreements_may_not_share_a_pseudonymisation_key(cfg_dir):
    path = cfg_dir / "config/agreements/northshire-isp-health-to-council.v1.yaml"
    edit_yaml(path, lambda d: d.update(pseudonymisation_key_conn_id="crosswalk_pseudonym_northshire_isp"))
    # Reported against whichever file is read second; either way it names both agreements.
    assert _problems(cfg_dir) == [
        f"{cfg_dir}/config/agreements/northshire-isp.v2.yaml: pseudonymisation_key_conn_id: "
        "'crosswalk_pseudonym_northshire_isp' is also the key of agreement 'northshire-isp-health-to-council': "
        "give each agreement its own key so pseudonyms cannot be linked across agreements"
    ]


def test_check_resolves_every_connection_and_parses_pseudonymisation_keys(cfg_dir, airflow_db, tmp_path):
    """`crosswalk check` (as a deployment runs it) fails on a key reference that does not resolve, and on an
    SFTP pool the DAGs need that Airflow lacks."""
    from airflow.cli.commands.pool_command import pool_import_helper
    from airflow.models.pool import Pool

    cli = str(REPO / ".venv" / "bin" / "crosswalk")
    cfg = load_config(cfg_dir / "config", cfg_dir / "schemas")
    names = [cfg.settings.database_conn_id, *(p.sftp.conn_id for p in cfg.partners.values())]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update({f"AIRFLOW_CONN_{n.upper()}": json.dumps({"conn_type": "generic", "password": "x"}) for n in names})
    age_var = f"AIRFLOW_CONN_{cfg.settings.keys.age_identities_conn_id.upper()}"
    env[age_var] = json.dumps({"conn_type": "crosswalk_age", "password": age.Identity.generate().secret()})
    pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()).decode()
    signing = {"conn_type": "crosswalk_signing_key", "extra": {"private_key": pem}}
    env[f"AIRFLOW_CONN_{cfg.settings.keys.signing_key_conn_id.upper()}"] = json.dumps(signing)
    disclosure = {"conn_type": "crosswalk_pseudonymisation_key", "password": secrets.token_hex(32)}
    env[f"AIRFLOW_CONN_{cfg.settings.keys.disclosure_key_conn_id.upper()}"] = json.dumps(disclosure)
    args = [cli, "check", "--config", str(cfg_dir / "config"), "--schemas", str(cfg_dir / "schemas")]
    key_var = "AIRFLOW_CONN_CROSSWALK_PSEUDONYM_NORTHSHIRE_ISP"

    missing = subprocess.run(args, capture_output=True, text=True, env=env)
    assert missing.returncode == 1
    assert (
        "connection crosswalk_pseudonym_northshire_isp: conn_id: not defined: add it in the Airflow UI, the secrets "
        "backend or AIRFLOW_CONN_* (used by agreement northshire-isp (pseudonymisation key))" in missing.stderr
    )
    assert missing.stderr.count("not defined") == 1  # every other connection resolved

    env[key_var] = json.dumps({"conn_type": "generic", "password": secrets.token_hex(16)})
    short = subprocess.run(args, capture_output=True, text=True, env=env)
    assert short.returncode == 1 and "16 bytes; a pseudonymisation key needs at least 32" in short.stderr

    env[key_var] = json.dumps({"conn_type": "sftp", "password": secrets.token_hex(32)})
    wrong_type = subprocess.run(args, capture_output=True, text=True, env=env)
    assert wrong_type.returncode == 1
    assert "conn_type: 'sftp': use 'crosswalk_pseudonymisation_key' (or 'generic' from a secrets backend)" in (
        wrong_type.stderr
    )

    env[age_var] = json.dumps({"conn_type": "crosswalk_age", "password": "AGE-SECRET-KEY-1NOTAKEY"})
    bad_age = subprocess.run(args, capture_output=True, text=True, env=env)
    assert bad_age.returncode == 1 and "not an age identity" in bad_age.stderr
    assert "NOTAKEY" not in bad_age.stderr + bad_age.stdout  # the problem is named, the secret never shown
    env[age_var] = json.dumps({"conn_type": "crosswalk_age", "password": age.Identity.generate().secret()})

    env[key_var] = json.dumps({"conn_type": "crosswalk_pseudonymisation_key", "password": secrets.token_hex(32)})
    for partner in cfg.partners.values():  # a deployment that skipped `airflow pools import`
        if Pool.get_pool(partner.sftp_pool):
            Pool.delete_pool(partner.sftp_pool)
    no_pools = subprocess.run(args, capture_output=True, text=True, env=env)
    assert no_pools.returncode == 1 and no_pools.stderr.count("does not exist, so this partner's tasks") == 2

    pools = tmp_path / "pools.json"
    subprocess.run([cli, "pools", "--config", str(cfg_dir / "config"), "--out", str(pools)], check=True, env=env)
    pool_import_helper(str(pools))
    ok = subprocess.run(args, capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    assert "every connection resolves" in ok.stdout


def test_check_warns_about_an_agreement_with_no_version_in_force_but_passes(cfg_dir):
    """Expiry is the gate's business at run time (the run stops, and says why); check only warns."""
    yesterday = date.today() - timedelta(days=1)
    edit_yaml(cfg_dir / "config" / ISP, lambda d: d.update(valid_until=yesterday.isoformat()))
    cli = str(REPO / ".venv" / "bin" / "crosswalk")
    args = [cli, "check", "--offline", "--config", str(cfg_dir / "config"), "--schemas", str(cfg_dir / "schemas")]
    out = subprocess.run(args, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (
        f"crosswalk check: warning: agreement northshire-isp: no version in force today "
        f"(northshire-isp v2 expired on {yesterday})"
    ) in out.stderr


def test_publications_must_reference_what_exists(tmp_path):
    """A portal publication needs an inbound source and an agreement naming its reader; open data needs a
    portal source, an open_data agreement with its dataset, and its SQL file."""
    import shutil

    from crosswalk.errors import ConfigErrors

    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    # northshire-isp does not name the council as a recipient
    edit_yaml(config / "feeds" / "social-care-summary.yaml", partner="northshire-council")
    edit_yaml(
        config / "feeds" / "care-packages-open-data.yaml",
        lambda d: d["targets"].update(sftp={"partner": "web-team", "path": "/inbox/open-data"}),
        source="council-clients",
        sql="missing.sql",
    )
    with pytest.raises(ConfigErrors) as caught:
        load_config(config, REPO / "include" / "schemas")
    text = str(caught.value)
    assert "does not name 'northshire-council' as a recipient" in text
    assert "'council-clients' is not a portal publication" in text
    assert "no missing.sql in include/sql/opendata" in text
    assert "targets.sftp.partner: no partner 'web-team' in config/partners" in text


def test_open_data_needs_a_target():
    from crosswalk.config.models import OpenDataTargets

    with pytest.raises(ValueError, match="name at least one target: ckan, file or sftp"):
        OpenDataTargets()
    with pytest.raises(ValueError, match="String should match pattern"):
        OpenDataTargets(sftp={"partner": "northshire-council", "path": "relative/dir"})


def test_check_refuses_a_spark_cluster_with_nowhere_to_checkpoint_and_passes_local_spark(cfg_dir):
    cli = str(REPO / ".venv" / "bin" / "crosswalk")
    args = [cli, "check", "--offline", "--config", str(cfg_dir / "config"), "--schemas", str(cfg_dir / "schemas")]
    edit_yaml(cfg_dir / "config/crosswalk.yaml", lambda d: d.update(matching={"backend": "spark"}))
    assert subprocess.run(args, capture_output=True, text=True).returncode == 0  # local[2]: pyspark and Java here
    cluster = {"backend": "spark", "spark_master": "spark://spark.internal:7077"}
    edit_yaml(cfg_dir / "config/crosswalk.yaml", lambda d: d.update(matching=cluster))
    bad = subprocess.run(args, capture_output=True, text=True)
    assert bad.returncode == 1
    assert "crosswalk.yaml: matching.checkpoint_dir: a Spark cluster needs storage every executor reaches" in bad.stderr


@pytest.mark.parametrize("field", ["host_keys", "signing_keys"])
def test_a_key_line_cut_short_fails_the_config_though_it_is_still_valid_base64(cfg_dir, field):
    path = cfg_dir / "config/partners/northshire-council.yaml"

    def cut(doc):
        keys = doc["sftp"]["host_keys"] if field == "host_keys" else doc["signing_keys"]
        key_type, b64 = keys[0].split()[:2]
        keys[0] = f"{key_type} {b64[: len(b64) // 2 // 4 * 4]}"

    edit_yaml(path, cut)
    assert any("key data is cut short or damaged" in p for p in _problems(cfg_dir)), _problems(cfg_dir)


def test_an_openpgp_partner_without_an_openpgp_key_of_ours_fails_the_check(cfg_dir):
    """Else the check passes and the partner's first drop cannot be opened."""
    armored = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ\n-----END PGP PUBLIC KEY BLOCK-----\n"
    edit_yaml(
        cfg_dir / "config/partners/northshire-council.yaml",
        lambda d: d.update(encryption={"method": "openpgp", "openpgp_keys": [armored]}),
    )
    edit_yaml(cfg_dir / "config/crosswalk.yaml", lambda d: d["keys"].pop("openpgp_key_conn_id", None))
    assert any(
        p.endswith(
            "northshire-council.yaml: encryption.method: northshire-council encrypts with OpenPGP, but crosswalk.yaml"
            " names no OpenPGP key of ours: set keys.openpgp_key_conn_id (docs: our keys), or give this partner"
            " method 'age'"
        )
        for p in _problems(cfg_dir)
    ), _problems(cfg_dir)


def _check_output(cfg_dir) -> str:
    cli = str(REPO / ".venv" / "bin" / "crosswalk")
    args = [cli, "check", "--offline", "--config", str(cfg_dir / "config"), "--schemas", str(cfg_dir / "schemas")]
    done = subprocess.run(args, capture_output=True, text=True)
    assert done.returncode == 1
    return done.stderr


def _break_key(d):
    key_type, b64 = d["sftp"]["host_keys"][0].split()[:2]
    d["sftp"]["host_keys"][0] = f"{key_type} {b64[:44]}"  # cut short, still valid base64


BROKEN = {
    "a typo in a partner key": (
        "partners/northshire-council.yaml",
        lambda d: d["sftp"]["paths"].update(inbx=d["sftp"]["paths"].pop("inbox")),
        "northshire-council.yaml: sftp.paths.inbx: unknown key: did you mean 'inbox'?"
        " ('inbox' is required and missing)",
        6,
    ),
    "an unknown schema": (
        "feeds/council-clients.yaml",
        lambda d: d.update(schema="social_care_clint"),
        "council-clients.yaml: schema: no table schema 'social_care_clint'",
        4,
    ),
    "a truncated host key": (
        "partners/northshire-council.yaml",
        _break_key,
        "northshire-council.yaml: sftp.host_keys: host key 1: key data is cut short or damaged",
        6,
    ),
}


@pytest.mark.parametrize("case", BROKEN)
def test_check_puts_the_root_cause_first_and_folds_what_follows_from_it(cfg_dir, case):
    file, edit, root, following = BROKEN[case]
    edit_yaml(cfg_dir / "config" / file, edit)
    first, second, *rest = _check_output(cfg_dir).splitlines()
    assert first.startswith("crosswalk check: FAILED: ") and root in first, first
    assert second == f"  and {following} problem(s) that follow from it:" and len(rest) == following


# --- row rules (population) ---------------------------------------------------------------------------------


def _population(d: dict) -> dict:
    return d["recipients"][0]["population"]


REFUSED_POPULATIONS = {
    "an agreement without a population": (
        ISP, lambda d: d["recipients"][0].pop("population"),
        "northshire-isp.v2.yaml: recipients.0.population: required but missing",
    ),
    "a condition on an unknown column": (
        ISP, lambda d: _population(d).update(where=[{"column": "care_pakage_end", "present": True}]),
        "recipients.0.population names column(s) ['care_pakage_end'] that dataset social_care_client does not"
        " declare",
    ),
    "a restricted column that is not declared": (
        ISP, lambda d: _population(d)["exclude"].update(restricted={"column": "sensitive", "values": ["Y"]}),
        "recipients.0.population names column(s) ['sensitive']",
    ),
    "a condition naming two tests": (
        ISP, lambda d: _population(d).update(where=[{"column": "care_package_end", "present": True,
                                                     "before": "today"}]),
        "name exactly one test for 'care_package_end'",
    ),
    "an objections list that is not a list feed": (
        ISP, lambda d: _population(d)["exclude"].update(objections={"feed": "health-index"}),
        "exclude.objections.feed: 'health-index' is not an inbound feed with person_list: objections",
    ),
    "an objections feed without a schema": (
        "feeds/council-objections.yaml", lambda d: d.pop("schema"),
        "council-objections.yaml: schema: required but missing",
    ),
    "an objections feed whose schema is not there": (
        "feeds/council-objections.yaml", lambda d: d.update(schema="objection_register"),
        "the objections list 'council-objections' has no table schema 'objection_register' in include/schemas",
    ),
    "matched_to_recipient where nothing is matched with the recipient": (
        "feeds/health-index.yaml", lambda d: d.update(partner="northshire-council"),
        "admits only people matched to",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", REFUSED_POPULATIONS)
def test_check_refuses_a_population_it_cannot_apply(cfg_dir, case):
    file, edit, expected = REFUSED_POPULATIONS[case]
    edit_yaml(cfg_dir / "config" / file, edit)
    assert expected in _check_output(cfg_dir)


def test_an_objections_schema_must_name_a_person(cfg_dir):
    schema = json.loads((cfg_dir / "schemas/person_list.json").read_text())
    schema["fields"] = [f for f in schema["fields"] if f["name"] == "recorded_on"]
    (cfg_dir / "schemas/person_list.json").write_text(json.dumps(schema))
    problems = _problems(cfg_dir)
    assert any("names no person: its schema needs one of chi_number, nhs_number, source_id" in p for p in problems)


def test_the_shipped_agreements_say_whose_records_leave():
    cfg = load_config(REPO / "config", REPO / "include" / "schemas")
    to_council = cfg.agreements["northshire-isp-health-to-council"].latest
    assert to_council.population_for("northshire-council").include == "matched_to_recipient"
    assert cfg.agreements["northshire-isp"].latest.population_for("nhs-northshire").list_feeds == [
        ("objections", "council-objections")
    ]
    assert cfg.outbound("chi-numbers-to-council").kind == "identifiers_back"
    assert not any(f.source_feed == "health-index" for f in cfg.outbound_feeds())  # the register never leaves
