"""The demo's world: two organisations' SFTP areas and keys, our configuration copy, synthetic extracts
dropped as each partner would drop them, our secrets as connections, and the summary at the end.

Imported by :mod:`crosswalk.demo.run` once Airflow has started: these imports take a second or two, and
Airflow's start-up is the demo's critical path.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml
from sqlalchemy import create_engine, text

from crosswalk import partner
from crosswalk.config.loader import load_config
from crosswalk.crypto import age, sshsig
from crosswalk.paths import BUNDLE_ROOT
from crosswalk.transfer.hostkeys import paramiko_host_keys

COUNCIL, NHS = "northshire-council", "nhs-northshire"


def say(msg: str = "") -> None:
    print(msg, flush=True)


def _keypair(path: Path) -> str:
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(path))
    os.chmod(path, 0o600)
    return key.export_public_key().decode().strip()


def server_areas(work: Path) -> tuple[Path, dict[str, str], dict[str, Path]]:
    """Each organisation's SFTP area and keys: the servers' spec file, the host keys to pin, our login keys."""
    specs, host_keys, client_keys = [], {}, {}
    for code in (COUNCIL, NHS):
        root = work / "sftp" / code
        for sub in ("inbox", "outbox", "quarantine"):
            (root / sub).mkdir(parents=True)
        keys = work / "keys" / code
        keys.mkdir(parents=True)
        host_keys[code] = " ".join(_keypair(keys / "host_ed25519").split()[:2])
        client_pub = _keypair(keys / "crosswalk_ed25519")
        (keys / "authorized_keys").write_text(client_pub + "\n")
        client_keys[code] = keys / "crosswalk_ed25519"
        specs.append(
            {
                "code": code,
                "root": str(root),
                "host_key": str(keys / "host_ed25519"),
                "authorized_keys": str(keys / "authorized_keys"),
            }
        )
    spec_file = work / "sftp" / "servers.json"
    spec_file.write_text(json.dumps(specs))
    return spec_file, host_keys, client_keys


@dataclass
class Keys:
    """Everyone's keys for the demo, made fresh each run. Ours go to Airflow connections."""

    ours: age.Identity
    our_signing: str  # OpenSSH private key text
    partner_ids: dict[str, age.Identity]
    partner_signing: dict[str, str]


def ssh_signing_key() -> str:
    import asyncssh

    return asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()


def public_line(private_text: str) -> str:
    return sshsig.public_key_line(sshsig.load_private_key(private_text).public_key())


def make_keys() -> Keys:
    return Keys(
        age.Identity.generate(),
        ssh_signing_key(),
        {c: age.Identity.generate() for c in (COUNCIL, NHS)},
        {c: ssh_signing_key() for c in (COUNCIL, NHS)},
    )


def write_config(work: Path, host_keys: dict[str, str], keys: Keys) -> Path:
    config = work / "config"
    shutil.copytree(BUNDLE_ROOT / "config", config)
    for path in (config / "partners").glob("*.yaml"):
        doc = yaml.safe_load(path.read_text())
        code = doc["code"]
        doc["sftp"]["host_keys"] = [host_keys[code]]
        doc["encryption"]["recipients"] = [{"key": keys.partner_ids[code].recipient}]
        doc["signing_keys"] = [public_line(keys.partner_signing[code])]
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    settings = yaml.safe_load((config / "crosswalk.yaml").read_text())
    settings["open_data_dir"] = str(work / "open-data")
    (config / "crosswalk.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    # The demo has no CKAN portal and nobody to approve in the UI: its copy of the open-data feed drops
    # the package in a local folder and is marked automated (in production it waits for the approver).
    feed = config / "feeds" / "care-packages-open-data.yaml"
    doc = yaml.safe_load(feed.read_text())
    doc["automated"] = True
    doc["targets"] = {"file": {"path": str(work / "published" / "open-data")}}
    feed.write_text(yaml.safe_dump(doc, sort_keys=False))
    return config


def partner_drop(
    port: int, host_key: str, key_file: Path, plain: Path, feed: str, schema_id: str, sender: str, keys: Keys
) -> None:
    """Drop as the partner would: encrypt to us, sign the manifest, upload data, manifest, signature."""
    import paramiko

    drop = partner.make_drop(
        plain, feed=feed, schema_id=schema_id, sender=sender, recipient=keys.ours.recipient,
        signing_key=keys.partner_signing[sender], tools=False,
    )  # fmt: skip
    client = paramiko.SSHClient()
    known = client.get_host_keys()
    for name, entry in paramiko_host_keys("127.0.0.1", port, [host_key]).items():
        for key_type, key in entry.items():
            known.add(name, key_type, key)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        "127.0.0.1", port, username="partner", key_filename=str(key_file), look_for_keys=False, allow_agent=False
    )
    with client, client.open_sftp() as sftp:
        for f in drop.in_upload_order():
            sftp.put(str(f), f"/outbox/{f.name}")


def secret_connections(config: Path, keys: Keys) -> dict[str, str]:
    """Our secrets as Airflow connections in the environment, as a secrets backend would hand them over:
    never files in the repo."""
    env = {
        "AIRFLOW_CONN_CROSSWALK_AGE_IDENTITIES": json.dumps(
            {"conn_type": "crosswalk_age", "password": keys.ours.secret()}
        ),
        "AIRFLOW_CONN_CROSSWALK_SIGNING_KEY": json.dumps(
            {"conn_type": "crosswalk_signing_key", "extra": {"private_key": keys.our_signing}}
        ),
        # Our own key for the per-person disclosure log's keyed hashes (never an agreement's).
        "AIRFLOW_CONN_CROSSWALK_DISCLOSURE_KEY": json.dumps(
            {"conn_type": "crosswalk_pseudonymisation_key", "password": secrets.token_hex(32)}
        ),
    }
    # Each agreement that pseudonymises gets its own fresh HMAC key, as the secrets backend would hold it.
    for history in load_config(config, check_descriptors=False).agreements.values():
        for conn_id in {a.pseudonymisation_key_conn_id for a in history.versions} - {None}:
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(
                {"conn_type": "crosswalk_pseudonymisation_key", "password": secrets.token_hex(32)}
            )
    return env


DISCLOSURE_KEY_ENV = "disclosure-key.env"


def keep_disclosure_key(work: Path, connections: dict[str, str]) -> Path:
    """The demo's disclosure-log key, as a shell file only its user can read, so that `crosswalk audit
    disclosures` can be tried on the demo's database after the demo has ended (a deployment keeps it in its
    secrets backend)."""
    name = "AIRFLOW_CONN_CROSSWALK_DISCLOSURE_KEY"
    path = work / DISCLOSURE_KEY_ENV
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"export {name}='{connections[name]}'\n")
    return path


def sftp_connections(ports: dict[str, int], client_keys: dict[str, Path]) -> dict[str, str]:
    """Our SFTP logins to each organisation's server, as Airflow connections in the environment."""
    env = {}
    conn_ids = {COUNCIL: "SFTP_NORTHSHIRE_COUNCIL", NHS: "SFTP_NHS_NORTHSHIRE"}
    for code, var in conn_ids.items():
        env[f"AIRFLOW_CONN_{var}"] = json.dumps(
            {
                "conn_type": "sftp",
                "host": "127.0.0.1",
                "port": ports[code],
                "login": "crosswalk",
                "extra": {"key_file": str(client_keys[code])},
            }
        )
    return env


def ig_report(work: Path) -> Path:
    """Today's IG report from the demo's audit store, as an IG officer would run it."""
    from datetime import datetime, timedelta

    from crosswalk import auditreport

    engine = create_engine(f"sqlite:///{work / 'crosswalk.db'}")
    today = datetime.combine(date.today(), datetime.min.time())
    report = auditreport.build(engine, today, today + timedelta(days=1))
    engine.dispose()
    html, _ = auditreport.write(report, work / "reports", f"ig-report_{today:%Y-%m-%d}_{today:%Y-%m-%d}")
    return html[0]


def summary(work: Path, states: dict[str, str], seconds: float, keys: Keys, report: Path) -> None:
    engine = create_engine(f"sqlite:///{work / 'crosswalk.db'}")
    with engine.connect() as conn:
        batches = conn.execute(
            text(
                "SELECT feed_id, partner, file_name, file_sha256, rows_staged, status, batch_id"
                " FROM batch ORDER BY created_at"
            )
        ).all()
        deliveries = conn.execute(
            text(
                "SELECT feed_id, partner, file_name, file_sha256, rows_out, fields_sent, agreement_id,"
                " agreement_version, level, status FROM delivery"
            )
        ).all()
        gated = {
            r.file_name: json.loads(r.detail or "{}")
            for r in conn.execute(text("SELECT file_name, detail FROM audit_event WHERE event = 'file.delivered'"))
        }
        n_events = conn.execute(text("SELECT COUNT(*) FROM audit_event")).scalar_one()
        tables = {
            t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
            for t in ("stg_social_care_client", "stg_health_board_index")
        }
        published = conn.execute(
            text("SELECT publication_id, kind, status, rows_out, agreement_id, agreement_version, level, detail"
                 " FROM publication ORDER BY created_at")
        ).all()  # fmt: skip
    engine.dispose()
    rel = os.path.relpath
    say()
    say("What moved where")
    for b in batches:
        say(f"  IN   {b.partner}:/outbox/{b.file_name}  sha256 {(b.file_sha256 or '?')[:16]}…")
        say(f"       -> {b.status}: {b.rows_staged or 0} rows, batch {b.batch_id}")
    for d in deliveries:
        fields = json.loads(d.fields_sent or "[]")
        say(f"  OUT  {d.file_name}  sha256 {(d.file_sha256 or '?')[:16]}…  {d.rows_out} rows, {len(fields)} fields")
        say(f"       -> {d.partner}:/inbox ({d.status}) under {d.agreement_id} v{d.agreement_version}, level {d.level}")
        g = gated.get(d.file_name, {})
        if g.get("population"):
            withheld = ", ".join(f"{k} {v}" for k, v in (g.get("withheld") or {}).items()) or "nobody"
            say(f"       people: {g.get('people_in', '?')} considered, {g.get('people_out', '?')} sent;"
                f" withheld: {withheld}  [{'; '.join(g['population'])}]")  # fmt: skip
            if g.get("changes"):
                say("       since the last return: " + ", ".join(f"{k} {v}" for k, v in g["changes"].items()))
        delivered = work / "sftp" / d.partner / "inbox" / d.file_name
        if d.status == "delivered" and delivered.exists():
            # Open it as the recipient would, with its own age key: only the agreed columns are there.
            buf = io.BytesIO()
            with delivered.open("rb") as f:
                age.decrypt(f, buf, [keys.partner_ids[d.partner]])
            header = buf.getvalue().split(b"\n", 1)[0].decode()
            say(f"       {d.partner} opens it with its own age key; columns: {header}")
    for pub in published:
        detail = json.loads(pub.detail or "{}")
        if pub.kind == "portal":
            say(f"  PUB  {pub.publication_id} ({pub.status}): {pub.rows_out} rows in view pub_social_care_summary,")
            say(f"       keyed by CHI ({detail.get('chi_from_matching', 0)} CHIs from matching, "
                 f"{detail.get('left_out_no_chi', 0)} rows without one left out), "
                 f"{pub.agreement_id} v{pub.agreement_version} level {pub.level}")  # fmt: skip
        else:
            say(f"  OPEN {pub.publication_id} ({pub.status}): {pub.rows_out} cells after disclosure control "
                 f"({detail.get('suppressed_primary', 0)} suppressed as 1-7, "
                 f"{detail.get('suppressed_secondary', 0)} to protect them)")  # fmt: skip
    say()
    say("Where to look")
    say(f"  delivered files    {rel(work / 'sftp' / NHS / 'inbox')}/ and {rel(work / 'sftp' / COUNCIL / 'inbox')}/")
    say(
        f"  staging database   {rel(work / 'crosswalk.db')}  ("
        + ", ".join(f"{t}: {n} rows" for t, n in tables.items())
        + ")"
    )
    say(
        f"  portal table       view pub_social_care_summary in {rel(work / 'crosswalk.db')}"
        f"  (crosswalk publish list social-care-summary --url sqlite:///{rel(work / 'crosswalk.db')})"
    )
    say(
        f"  open-data package  {rel(work / 'open-data' / 'care-packages-open-data')}/v1/ (CSV, datapackage.json,"
        " README.md guidance)"
    )
    say(f"  open-data drop     {rel(work / 'published' / 'open-data' / 'care-packages-open-data')}/")  # fmt: skip
    say(f"  audit events       {n_events} rows in table audit_event of the same database")
    say(
        f"                     sqlite3 {rel(work / 'crosswalk.db')} 'SELECT event_time, event, outcome, file_name,"
        " rows_out FROM audit_event'"
    )
    say(f"  IG report          {rel(report)} (and .csv)")
    say(f"  chain check        crosswalk audit verify --url sqlite:///{rel(work / 'crosswalk.db')}")
    say(
        f"  a person's trail   . {rel(work / DISCLOSURE_KEY_ENV)} && crosswalk audit disclosures --chi <a client's CHI>"
        f" --url sqlite:///{rel(work / 'crosswalk.db')}"
    )
    say(f"  task logs          {rel(work / 'logs')}/<dag_id>.log")
    say(f"  partner areas      {rel(work / 'sftp')}/<organisation>/{{inbox,outbox,quarantine}}")
    ok = all(s == "success" for s in states.values())
    say()
    say(f"Crosswalk demo: {'complete' if ok else 'FAILED'} in {seconds:.0f}s")
