"""``crosswalk demo``: the main job end to end, on this machine, with nothing to install.

1. Two SFTP servers on loopback (asyncssh), one per demo organisation, each with its own host
   key and chrooted area; Crosswalk's login keys and the pinned host keys are generated fresh.
2. Synthetic data for both organisations, dropped into their outboxes as a partner would:
   encrypted to our age recipient, the manifest signed with the partner's SSH key; data file
   first, manifest next, signature last.
3. The real DAGs, run by Airflow itself (``airflow dags test``) against SQLite.
4. A summary of what moved where, and where to look. Every process started is stopped.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from base64 import b64decode
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml
from sqlalchemy import create_engine, text

from crosswalk.config.loader import load_config
from crosswalk.crypto import age, sshsig
from crosswalk.demo.synthetic import CLIENT_COLUMNS, INDEX_COLUMNS, client_rows, index_rows, people, write_csv
from crosswalk.manifest import manifest_for_drop, manifest_name, signature_name
from crosswalk.paths import BUNDLE_ROOT

COUNCIL, NHS = "northshire-council", "nhs-northshire"
DAG_ORDER = [
    "inbound_health_index",  # first, so the council's clients are matched against the CHI index
    "inbound_council_clients",
    "outbound_clients_to_health",
    "outbound_index_to_council",
    "publish_social_care_summary",  # the board's portal table, keyed by CHI
    "open_data_care_packages_open_data",  # aggregates -> disclosure control -> data package -> file drop
]


def _say(msg: str = "") -> None:
    print(msg, flush=True)


def _keypair(path: Path) -> str:
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(path))
    os.chmod(path, 0o600)
    return key.export_public_key().decode().strip()


def _start_servers(work: Path) -> tuple[subprocess.Popen, dict[str, int], dict[str, str], dict[str, Path]]:
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
    log = (work / "logs" / "sftp-servers.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "crosswalk.demo.sftpserver", str(spec_file)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    ready = spec_file.with_name("ready")
    deadline = time.monotonic() + 30
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the demo SFTP servers did not start; see {work / 'logs' / 'sftp-servers.log'}")
        time.sleep(0.1)
    return proc, json.loads(ready.read_text()), host_keys, client_keys


@dataclass
class Keys:
    """Everyone's keys for the demo, made fresh each run. Ours go to Airflow connections."""

    ours: age.Identity
    our_signing: str  # OpenSSH private key text
    partner_ids: dict[str, age.Identity]
    partner_signing: dict[str, str]


def _ssh_signing_key() -> str:
    import asyncssh

    return asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()


def _public_line(private_text: str) -> str:
    return sshsig.public_key_line(sshsig.load_private_key(private_text).public_key())


def _make_keys() -> Keys:
    return Keys(
        age.Identity.generate(),
        _ssh_signing_key(),
        {c: age.Identity.generate() for c in (COUNCIL, NHS)},
        {c: _ssh_signing_key() for c in (COUNCIL, NHS)},
    )


def _write_config(work: Path, host_keys: dict[str, str], keys: Keys) -> Path:
    config = work / "config"
    shutil.copytree(BUNDLE_ROOT / "config", config)
    for path in (config / "partners").glob("*.yaml"):
        doc = yaml.safe_load(path.read_text())
        code = doc["code"]
        doc["sftp"]["host_keys"] = [host_keys[code]]
        doc["encryption"]["recipients"] = [{"key": keys.partner_ids[code].recipient}]
        doc["signing_keys"] = [_public_line(keys.partner_signing[code])]
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


def _partner_drop(
    port: int, host_key: str, key_file: Path, plain: Path, feed: str, schema_id: str, sender: str, keys: Keys
) -> None:
    """Drop as the partner would: encrypt to us, sign the manifest, upload data, manifest, signature."""
    import paramiko

    enc = plain.with_name(plain.name + ".age")
    age.encrypt_file(plain, enc, [keys.ours.recipient])
    manifest = manifest_for_drop(
        plain, enc, feed=feed, schema_id=schema_id, sender=sender, recipients=[keys.ours.recipient]
    )
    mpath = enc.with_name(manifest_name(enc.name))
    mpath.write_bytes(manifest.to_json())
    spath = Path(signature_name(str(mpath)))
    spath.write_text(sshsig.sign(io.BytesIO(mpath.read_bytes()), sshsig.load_private_key(keys.partner_signing[sender])))
    client = paramiko.SSHClient()
    key_type, b64 = host_key.split()[:2]
    pinned = paramiko.PKey.from_type_string(key_type, b64decode(b64))
    client.get_host_keys().add(f"[127.0.0.1]:{port}", key_type, pinned)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        "127.0.0.1", port, username="partner", key_filename=str(key_file), look_for_keys=False, allow_agent=False
    )
    with client, client.open_sftp() as sftp:
        for f in (enc, mpath, spath):
            sftp.put(str(f), f"/outbox/{f.name}")


def _airflow_env(
    work: Path, config: Path, ports: dict[str, int], client_keys: dict[str, Path], keys: Keys
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(work / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(BUNDLE_ROOT),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CROSSWALK__CONFIG_DIR": str(config),
            "AIRFLOW_CONN_CROSSWALK_DB": json.dumps({"conn_type": "sqlite", "host": str(work / "crosswalk.db")}),
            # Our secrets, as a secrets backend would hand them over: never files in the repo.
            "AIRFLOW_CONN_CROSSWALK_AGE_IDENTITIES": json.dumps(
                {"conn_type": "generic", "extra": {"identities": [{"key": keys.ours.secret()}]}}
            ),
            "AIRFLOW_CONN_CROSSWALK_SIGNING_KEY": json.dumps(
                {"conn_type": "generic", "extra": {"private_key": keys.our_signing}}
            ),
        }
    )
    # Each agreement that pseudonymises gets its own fresh HMAC key, as the secrets backend would hold it.
    for history in load_config(config, check_descriptors=False).agreements.values():
        for conn_id in {a.pseudonymisation_key_conn_id for a in history.versions} - {None}:
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(
                {"conn_type": "generic", "password": secrets.token_hex(32)}
            )
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


def _airflow(env: dict[str, str], log: Path, *args: str) -> int:
    airflow = Path(sys.executable).with_name("airflow")
    with log.open("ab") as f:
        return subprocess.run([str(airflow), *args], env=env, stdout=f, stderr=subprocess.STDOUT).returncode


def _run_state(log: Path, dag_id: str) -> str:
    """The final state `airflow dags test` logged for the run (its exit code does not carry it)."""
    found = re.findall(rf"DagRun Finished: dag_id={re.escape(dag_id)},.*? state=(\w+)", log.read_text(errors="replace"))
    return found[-1] if found else "did not finish"


def run_demo(work: Path, rows: int = 500) -> int:
    work = work.resolve()
    if work.exists():
        shutil.rmtree(work)
    (work / "logs").mkdir(parents=True)
    (work / "data").mkdir()
    t0 = time.monotonic()
    _say(
        "Crosswalk demo: Northshire Council <--SFTP--> Crosswalk <--SFTP--> NHS Northshire, under the ISP's agreements"
    )
    _say(f"  working directory: {work}")

    proc, ports, host_keys, client_keys = _start_servers(work)
    try:
        _say(
            f"  SFTP servers up: {COUNCIL} on 127.0.0.1:{ports[COUNCIL]}, {NHS} on 127.0.0.1:{ports[NHS]}"
            " (own host keys, pinned; key-only logins)"
        )
        keys = _make_keys()
        config = _write_config(work, host_keys, keys)

        stamp = date.today().strftime("%Y%m%d")
        persons = people(int(rows * 1.5), seed=2026)
        clients = write_csv(client_rows(persons[:rows]), CLIENT_COLUMNS, work / "data" / f"clients_{stamp}.csv")
        index = write_csv(index_rows(persons), INDEX_COLUMNS, work / "data" / f"chi_index_{stamp}.csv")
        _partner_drop(
            ports[COUNCIL],
            host_keys[COUNCIL],
            client_keys[COUNCIL],
            clients,
            "council-clients",
            "social_care_client",
            COUNCIL,
            keys,
        )
        _partner_drop(
            ports[NHS], host_keys[NHS], client_keys[NHS], index, "health-index", "health_board_index", NHS, keys
        )
        _say(f"  partners dropped {clients.name} ({rows} synthetic clients) and {index.name} ({len(persons)} people)")

        env = _airflow_env(work, config, ports, client_keys, keys)
        _say("  migrating Airflow's metadata database (SQLite) ...")
        if _airflow(env, work / "logs" / "airflow-db.log", "db", "migrate") != 0:
            _say(f"  FAILED: airflow db migrate; see {work / 'logs' / 'airflow-db.log'}")
            return 1
        states = {}
        for dag_id in DAG_ORDER:
            log = work / "logs" / f"{dag_id}.log"
            _airflow(env, log, "dags", "test", dag_id)
            states[dag_id] = _run_state(log, dag_id)
            _say(f"  airflow dags test {dag_id}: {states[dag_id]}")
        report = _ig_report(work)
        _summary(work, states, time.monotonic() - t0, keys, report)
        return 0 if all(s == "success" for s in states.values()) else 1
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        _say("  stopped the demo SFTP servers")


def _ig_report(work: Path) -> Path:
    """Today's IG report from the demo's audit store, as an IG officer would run it."""
    from datetime import datetime, timedelta

    from crosswalk import auditreport

    engine = create_engine(f"sqlite:///{work / 'crosswalk.db'}")
    today = datetime.combine(date.today(), datetime.min.time())
    report = auditreport.build(engine, today, today + timedelta(days=1))
    engine.dispose()
    out = work / "reports"
    out.mkdir(exist_ok=True)
    stem = f"ig-report_{today:%Y-%m-%d}_{today:%Y-%m-%d}"
    (out / f"{stem}.csv").write_text(auditreport.to_csv(report), encoding="utf-8")
    (out / f"{stem}.html").write_text(auditreport.to_html(report), encoding="utf-8")
    return out / f"{stem}.html"


def _summary(work: Path, states: dict[str, str], seconds: float, keys: Keys, report: Path) -> None:
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
    _say()
    _say("What moved where")
    for b in batches:
        _say(f"  IN   {b.partner}:/outbox/{b.file_name}  sha256 {(b.file_sha256 or '?')[:16]}…")
        _say(f"       -> {b.status}: {b.rows_staged or 0} rows, batch {b.batch_id}")
    for d in deliveries:
        fields = json.loads(d.fields_sent or "[]")
        _say(f"  OUT  {d.file_name}  sha256 {(d.file_sha256 or '?')[:16]}…  {d.rows_out} rows, {len(fields)} fields")
        _say(
            f"       -> {d.partner}:/inbox ({d.status}) under {d.agreement_id} v{d.agreement_version}, level {d.level}"
        )
        delivered = work / "sftp" / d.partner / "inbox" / d.file_name
        if d.status == "delivered" and delivered.exists():
            # Open it as the recipient would, with its own age key: only the agreed columns are there.
            buf = io.BytesIO()
            with delivered.open("rb") as f:
                age.decrypt(f, buf, [keys.partner_ids[d.partner]])
            header = buf.getvalue().split(b"\n", 1)[0].decode()
            _say(f"       {d.partner} opens it with its own age key; columns: {header}")
    for pub in published:
        detail = json.loads(pub.detail or "{}")
        if pub.kind == "portal":
            _say(f"  PUB  {pub.publication_id} ({pub.status}): {pub.rows_out} rows in view pub_social_care_summary,")
            _say(f"       keyed by CHI ({detail.get('chi_from_matching', 0)} CHIs from matching, "
                 f"{detail.get('left_out_no_chi', 0)} rows without one left out), "
                 f"{pub.agreement_id} v{pub.agreement_version} level {pub.level}")  # fmt: skip
        else:
            _say(f"  OPEN {pub.publication_id} ({pub.status}): {pub.rows_out} cells after disclosure control "
                 f"({detail.get('suppressed_primary', 0)} suppressed as 1-7, "
                 f"{detail.get('suppressed_secondary', 0)} to protect them)")  # fmt: skip
    _say()
    _say("Where to look")
    _say(f"  delivered files    {rel(work / 'sftp' / NHS / 'inbox')}/ and {rel(work / 'sftp' / COUNCIL / 'inbox')}/")
    _say(
        f"  staging database   {rel(work / 'crosswalk.db')}  ("
        + ", ".join(f"{t}: {n} rows" for t, n in tables.items())
        + ")"
    )
    _say(
        f"  portal table       view pub_social_care_summary in {rel(work / 'crosswalk.db')}"
        f"  (crosswalk publish list social-care-summary --url sqlite:///{rel(work / 'crosswalk.db')})"
    )
    _say(
        f"  open-data package  {rel(work / 'open-data' / 'care-packages-open-data')}/v1/ (CSV, datapackage.json,"
        " README.md guidance)"
    )
    _say(f"  open-data drop     {rel(work / 'published' / 'open-data' / 'care-packages-open-data')}/")  # fmt: skip
    _say(f"  audit events       {n_events} rows in table audit_event of the same database")
    _say(
        f"                     sqlite3 {rel(work / 'crosswalk.db')} 'SELECT event_time, event, outcome, file_name,"
        " rows_out FROM audit_event'"
    )
    _say(f"  IG report          {rel(report)} (and .csv)")
    _say(f"  chain check        crosswalk audit verify --url sqlite:///{rel(work / 'crosswalk.db')}")
    _say(f"  task logs          {rel(work / 'logs')}/<dag_id>.log")
    _say(f"  partner areas      {rel(work / 'sftp')}/<organisation>/{{inbox,outbox,quarantine}}")
    ok = all(s == "success" for s in states.values())
    _say()
    _say(f"Crosswalk demo: {'complete' if ok else 'FAILED'} in {seconds:.0f}s")
