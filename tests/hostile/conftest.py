"""One hostile partner's day, on each database: a good drop, then every kind of bad drop at once, then
the partner fixes one signature; the exchange then delivers. Real sshd, real age and ssh-keygen, real
Airflow runs (``dag.test``), SQLite and PostgreSQL. The tests read what it left behind."""

from __future__ import annotations

import logging
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from tests.hostile.kinds import KINDS, MARKER, Kind, Partner, Special, data_name_of
from tests.support.project import LISTS, EnvPatch, clients_csv, edit_yaml, index_csv, list_csv, make_project

COUNCIL, BOARD = "northshire-council", "nhs-northshire"
MAX_BYTES = 1_000_000  # the suite's feed limit: the large kind is over it, every other drop well under


@dataclass
class Day:
    """What the hostile day left behind, for the tests to read."""

    db: str
    names: dict[str, str]  # kind -> data file name as dropped
    originals: dict[str, object]  # outbox entry -> bytes, or its kind for a non-regular entry
    outbox_after: dict[str, object]
    batches: dict[str, dict]  # shown data file name -> batch row
    staged_rows: dict[str, int]  # batch id -> rows in the staging table
    quarantine: Path
    inbox: Path
    board_inbox: Path
    delivered: list[bytes]  # our extracts as the board decrypts them
    log_text: str
    tables: dict[str, list[tuple]]  # every table of ours, every row
    intake_states: list[str]  # the inbound runs' states: the bad drops fail the first run
    resubmitted: dict = field(default_factory=dict)
    discovered: list[dict] = field(default_factory=list)
    published: dict[str, bytes] = field(default_factory=dict)  # the open-data package as released


class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # with any traceback, as a task log would show it


def _entries(folder: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    for p in folder.iterdir():
        mode = p.lstat().st_mode
        out[p.name] = p.read_bytes() if stat.S_ISREG(mode) else ("symlink" if stat.S_ISLNK(mode) else stat.S_IFMT(mode))
    return out


def _empty_partner_folders(sshd) -> None:
    for user in sshd.users.values():
        for sub in ("inbox", "outbox", "quarantine"):
            for child in (user.root / sub).iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()


def _put(outbox: Path, user: str, files: dict[str, bytes | Special]) -> None:
    for name, content in files.items():
        path = outbox / name
        if isinstance(content, Special) and content.kind == "dir":
            path.mkdir()
        elif isinstance(content, Special) and content.kind == "fifo":
            os.mkfifo(path)
        elif isinstance(content, Special):
            path.symlink_to(content.target)
        else:
            path.write_bytes(content)
        if not path.is_symlink():
            shutil.chown(path, user=user, group=user)


@pytest.fixture(scope="module")
def day(request, tmp_path_factory, sshd, airflow_db) -> Day:
    """The module's day, on its ``DATABASE`` (one module per database, so parallel workers run them side
    by side)."""
    import json

    from crosswalk.audit import read_events
    from crosswalk.orchestration.connections import dispose_engines, engine_for
    from tests.support.airflow import run_dag, run_dag_answering
    from tests.support.project import _ssh_key

    database = request.module.DATABASE
    tmp = tmp_path_factory.mktemp(f"hostile-{database}")
    db_url = f"sqlite:///{tmp / 'crosswalk.db'}" if database == "sqlite" else request.getfixturevalue("postgres_url")
    _empty_partner_folders(sshd)
    request.addfinalizer(lambda: _empty_partner_folders(sshd))  # however the day ends, the next test starts clean
    project = make_project(tmp, sshd, db_url, row_rules=True)
    edit_yaml(project.config_dir / "feeds" / "council-clients.yaml", max_bytes=MAX_BYTES)
    # Open data goes to a folder here (the CKAN target has a test of its own).
    edit_yaml(project.config_dir / "crosswalk.yaml", open_data_dir=str(tmp / "open-data"))
    edit_yaml(
        project.config_dir / "feeds" / "care-packages-open-data.yaml",
        targets={"file": {"path": str(tmp / "published")}},
    )
    project.reload()
    handler, root = _Everything(), logging.getLogger()
    level = root.level
    with EnvPatch(project.env()):
        # A good day first: the board's index and the council's extract, staged and matched.
        project.drop(BOARD, index_csv(project.work), feed="health-index", schema_id="health_board_index")
        good = clients_csv(project.work, n=8, name="clients_20261120.csv", seed=7)
        project.drop(COUNCIL, good, feed="council-clients", schema_id="social_care_client")
        for feed, name in LISTS.items():  # the governed lists the agreements withhold people by (empty)
            list_partner = project.cfg.inbound(feed).partner
            project.drop(list_partner, list_csv(project.work, name), feed=feed, schema_id="person_list")
            assert run_dag(f"inbound_{feed.replace('-', '_')}")[0] == "success"
        assert run_dag("inbound_health_index")[0] == "success"
        assert run_dag("inbound_council_clients")[0] == "success"

        partner = Partner(
            project.our_identity.recipient,
            project.partner_keys[COUNCIL].signing_key,
            _ssh_key(tmp / "intruder"),
            project.work,
            good.read_bytes(),
        )
        outbox, user = project.outbox(COUNCIL), sshd.users[COUNCIL].name
        names = {}
        for i, kind in enumerate(KINDS, start=1):
            names[kind.name] = data_name_of(i, kind)
            # A drop that ends staged carries no marker: its values are delivered as held, by design.
            marker = MARKER.format(i) if kind.markers else f"OK{i:02d}"
            _put(outbox, user, kind.build(partner, names[kind.name], marker))
        originals = _entries(outbox)

        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        try:
            states = [run_dag("inbound_council_clients")[0]]
            # The partner fixes only the signature of the drop signed with the wrong key: same names, same
            # manifest; the next run examines it again (and leaves every other drop alone).
            fixed = names["signed_by_a_key_not_pinned"]
            manifest = outbox / f"{fixed}.manifest.json"
            (outbox / f"{fixed}.manifest.json.sig").write_bytes(partner.sign(manifest.read_bytes()))
            states.append(run_dag("inbound_council_clients")[0])
            assert run_dag("outbound_clients_to_health")[0] == "success"
            assert run_dag("publish_social_care_summary")[0] == "success"
            state, tis, _ = run_dag_answering(
                "open_data_care_packages_open_data", lambda subject, body: ("Approve", "Ruth Anderson")
            )
            assert state == "success" and tis["go_live"] == "success", tis
        finally:
            root.removeHandler(handler)
            root.setLevel(level)

        engine = engine_for(project.cfg.settings.database_conn_id)
        with engine.connect() as conn:
            batches = {r.file_name: dict(r._mapping) for r in conn.execute(text("SELECT * FROM batch"))}
            staged = dict(
                conn.execute(text("SELECT batch_id, COUNT(*) FROM stg_social_care_client GROUP BY batch_id")).all()
            )
            tables = {
                t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t}"))]
                for t in [*inspect(conn).get_table_names(), *inspect(conn).get_view_names()]
            }
        discovered = [json.loads(e["detail"]) for e in read_events(engine, event="drops.discovered")]
        board = project.inbox(BOARD)
        delivered = [project.decrypt_delivery(BOARD, p) for p in sorted(board.glob("*.age"))]
        published = {
            str(p): p.read_bytes() for d in (tmp / "open-data", tmp / "published") for p in d.rglob("*") if p.is_file()
        }
        dispose_engines()
    result = Day(
        database,
        names,
        originals,
        _entries(outbox),
        batches,
        staged,
        project.quarantine(COUNCIL),
        project.inbox(COUNCIL),
        board,
        delivered,
        "\n".join(handler.lines),
        tables,
        states,
        discovered=discovered,
        published=published,
    )
    yield result
    if database == "postgres":
        from sqlalchemy import create_engine

        eng = create_engine(db_url)
        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        eng.dispose()


def kind_ids() -> list[str]:
    return [k.name for k in KINDS]


def kind(name: str) -> Kind:
    return next(k for k in KINDS if k.name == name)
