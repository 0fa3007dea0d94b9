"""End-to-end benchmark: the whole exchange as Airflow runs it, beside the floor of standard tools.

    .venv/bin/python bench/e2e.py [--sizes 10000 100000 1000000]        (or: make bench-e2e; needs root)

For each size N: N council clients and a CHI index of 1.5 N people (the demo's synthetic population), a
fresh PostgreSQL database, the real OpenSSH sshd of the test suite, and both partners dropping with the
standard tools (`age`, `ssh-keygen -Y sign`, `sftp`). Then, stage by stage, alternating which goes first:

- crosswalk: each DAG run by Airflow's ``dag.test()`` in one Airflow process (``crosswalk.demo.runs``, as
  ``make demo`` runs them): the inbound index, the inbound clients with matching, the outbound extract
  to the board, the portal publish. The process's start-up (imports, metadata database, the in-process
  task API) is paid once and shown as its own row; a deployed Airflow has its servers up already. Peak
  RSS is that process's during the one run (VmHWM reset before each);
- floor: the same moves with standard tools and nothing of ours: ``sftp get`` + ``age -d`` + ``psql \\copy``
  into a bare table; the same plus plain Splink (bench/matching.py's standard model) linking the clients to
  the index and ``\\copy`` of its links; ``\\copy (SELECT the agreement's level-2 columns) TO`` + ``age -e`` +
  ``sftp put``; ``CREATE TABLE ... AS`` + a view swap in one transaction.

Prints, per size and stage, both routes' wall seconds and peak RSS (the largest process of the route), the
ratio, and the whole chain; then each stage's seconds per 1,000 clients across sizes (flat = linear).
Timing is never asserted: read the figures against the targets in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

ADMIN = os.environ.get("CROSSWALK_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DB = "crosswalk_bench_e2e"
COUNCIL, NHS = "northshire-council", "nhs-northshire"
BIN = Path(sys.executable).parent
STAGES = [
    "inbound_health_index",
    "inbound_council_clients",
    "outbound_clients_to_health",
    "publish_social_care_summary",
]


def _psql_url() -> str:
    return ADMIN.rsplit("/", 1)[0].replace("postgresql+psycopg", "postgresql") + "/" + DB


def _run(cmd: list[str], env: dict | None = None, log: Path | None = None, stdin: str | None = None):
    """Run one process to completion: (wall seconds, its peak RSS in MB, as GNU time reads it). Fails loudly."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        out = log.open("ab") if log else subprocess.DEVNULL
        t0 = time.perf_counter()
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", rss.name, *cmd], env=env, input=(stdin or "").encode(),
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        seconds = time.perf_counter() - t0
        if log:
            out.close()
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd[0]} exited {proc.returncode}" + (f"; see {log}" if log else ""))
        return seconds, int(rss.read().split()[-1]) // 1024


def _route(steps) -> tuple[float, int]:
    """A route of several processes: total wall seconds, the largest peak RSS among them."""
    t0, peak = time.perf_counter(), 0
    for step in steps:
        peak = max(peak, step()[1])
    return time.perf_counter() - t0, peak


def _people(n: int) -> list:
    """A population with a realistic spread of names, birthdays, households and twins (bench/people.py, the
    matching benchmark's), as the demo's person records: the demo's own few names would make any
    name-blocked reference quadratic."""
    from people import population

    from crosswalk.demo.synthetic import Person

    pop = population(n, seed=2026).drop_duplicates("chi_number")  # a CHI index holds each CHI once
    dob = pd.to_datetime(pop["date_of_birth"]).dt.date
    return [
        Person(c, f, s, d, x, p, a)
        for c, f, s, d, x, p, a in zip(
            pop["chi_number"], pop["forename"], pop["surname"], dob, pop["sex"], pop["postcode"], pop["address"],
            strict=True,
        )
    ]  # fmt: skip


class Exchange:
    """One size's world: the project (config, keys, connections), its database and both partners' drops."""

    def __init__(self, size: int, sshd, work: Path) -> None:
        from sqlalchemy import create_engine, text

        from crosswalk.demo.synthetic import CLIENT_COLUMNS, INDEX_COLUMNS, client_rows, index_rows, write_csv
        from tests.support.project import make_project

        self.size, self.sshd, self.work = size, sshd, work
        admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{DB}"'))
        admin.dispose()
        for user in sshd.users.values():
            for sub in ("inbox", "outbox", "quarantine"):
                for f in (user.root / sub).iterdir():
                    f.unlink()
        self.project = make_project(work, sshd, ADMIN.rsplit("/", 1)[0] + "/" + DB)
        stamp = date.today().strftime("%Y%m%d")
        persons = _people(int(size * 1.5))
        self.clients = write_csv(client_rows(persons[:size]), CLIENT_COLUMNS, work / f"clients_{stamp}.csv")
        self.index = write_csv(index_rows(persons), INDEX_COLUMNS, work / f"chi_index_{stamp}.csv")
        del persons
        self.project.drop(NHS, self.index, feed="health-index", schema_id="health_board_index")
        self.project.drop(COUNCIL, self.clients, feed="council-clients", schema_id="social_care_client")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        self.env.update(self.project.env())
        self.env.update(
            {
                "AIRFLOW_HOME": str(work / "airflow"),
                "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "PATH": f"{BIN}:{os.environ['PATH']}",
            }
        )
        from crosswalk.staging.db import make_engine
        from crosswalk.staging.migrations import upgrade

        engine = make_engine(ADMIN.rsplit("/", 1)[0] + "/" + DB)
        upgrade(engine)  # our tables exist before either route's first stage (the floor copies their types)
        engine.dispose()
        self.key = work / "ours.agekey"
        from crosswalk.crypto import age

        self.key.write_text(age.identity_file_text(self.project.our_identity))
        self.floor_dir = work / "floor"
        self.floor_dir.mkdir()

    # Ours -------------------------------------------------------------------------------------------

    def start_airflow(self) -> float:
        """Start the one Airflow process that runs our DAGs (crosswalk.demo.runs, as `make demo` does);
        its start-up seconds (paid once, not per stage)."""
        t0 = time.perf_counter()
        self.airflow = subprocess.Popen(
            [sys.executable, "-m", "crosswalk.demo.runs", "--step", str(self.work), *STAGES],
            env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            stderr=(self.work / "airflow.log").open("ab"),
        )  # fmt: skip
        if self.airflow.stdout.readline().strip() != "ready":
            raise RuntimeError(f"Airflow did not start; see {self.work}/airflow-db.log")
        self.airflow.stdin.write("go {}\n")
        self.airflow.stdin.flush()
        return time.perf_counter() - t0

    def ours(self, dag_id: str) -> tuple[float, int]:
        """One DAG run in that process: its wall seconds and the process's peak RSS during it."""
        self.airflow.stdin.write("next\n")
        self.airflow.stdin.flush()
        got, state, seconds, peak = [*self.airflow.stdout.readline().split(), "", "", "0", "0"][:4]
        if got != dag_id or state != "success":
            raise RuntimeError(f"{dag_id}: {state or 'did not finish'}; see {self.work / (dag_id + '.log')}")
        return float(seconds), int(peak)

    def stop_airflow(self) -> None:
        if self.airflow.poll() is None:
            self.airflow.kill()
        self.airflow.wait()

    # The floor: standard tools only ------------------------------------------------------------------

    def _psql(self, sql: str) -> tuple[float, int]:
        return _run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", _psql_url(), "-c", sql])

    def _get_and_load(self, partner: str, enc: Path, table: str, like: str) -> list:
        outbox = self.project.cfg.partners[partner].sftp.paths.outbox
        local, plain = self.floor_dir / enc.name, self.floor_dir / enc.name.removesuffix(".age")
        with self._conn() as conn:  # the bare table: the staged table's columns and types, no keys
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
            conn.exec_driver_sql(f"CREATE TABLE {table} AS SELECT * FROM {like} WITH NO DATA")
            conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN batch_id, DROP COLUMN row_number")
        with enc.with_name(enc.name.removesuffix(".age")).open() as f:
            header = f.readline().strip()
        return [
            lambda: self._sftp(partner, f"get {outbox}/{enc.name} {local}\n"),
            lambda: _run(["age", "-d", "-i", str(self.key), "-o", str(plain), str(local)]),
            lambda: self._psql(f"\\copy {table} ({header}) FROM '{plain}' CSV HEADER"),
        ]

    def _sftp(self, partner: str, batch: str) -> tuple[float, int]:
        u = self.sshd.users[partner]
        return _run(
            ["sftp", "-b", "-", "-i", str(u.key), "-P", str(self.sshd.port), "-o", "BatchMode=yes",
             "-o", f"UserKnownHostsFile={self.sshd.known_hosts}", "-o", "StrictHostKeyChecking=yes",
             f"{u.name}@127.0.0.1"],
            stdin=batch,
        )  # fmt: skip

    def _conn(self):
        from sqlalchemy import create_engine

        return create_engine(ADMIN.rsplit("/", 1)[0] + "/" + DB).begin()

    def floor(self, stage: str) -> tuple[float, int]:
        index_enc = self.index.with_name(self.index.name + ".age")
        clients_enc = self.clients.with_name(self.clients.name + ".age")
        if stage == "inbound_health_index":
            return _route(self._get_and_load(NHS, index_enc, "floor_index", "stg_health_board_index"))
        if stage == "inbound_council_clients":
            steps = self._get_and_load(COUNCIL, clients_enc, "floor_clients", "stg_social_care_client")
            links = self.floor_dir / "links.csv"
            match = [sys.executable, __file__, "--plain-splink"]
            match += [str(self.floor_dir / self.clients.name), str(self.floor_dir / self.index.name), str(links)]
            steps.append(lambda: _run(match, log=self.work / "floor-splink.log"))
            table = "CREATE TABLE floor_links (source_id text, chi_number text, p float8)"
            steps.append(lambda: self._psql(f"DROP TABLE IF EXISTS floor_links; {table}"))
            steps.append(lambda: self._psql(f"\\copy floor_links FROM '{links}' CSV HEADER"))
            return _route(steps)
        if stage == "outbound_clients_to_health":
            cols = ", ".join(self._level2_columns())
            out = self.floor_dir / "extract.csv"
            recipient = self.project.partner_keys[NHS].identity.recipient
            inbox = self.project.cfg.partners[NHS].sftp.paths.inbox
            return _route(
                [
                    lambda: self._psql(f"\\copy (SELECT {cols} FROM floor_clients) TO '{out}' CSV HEADER"),
                    lambda: _run(["age", "-e", "-r", recipient, "-o", f"{out}.age", str(out)]),
                    lambda: self._sftp(NHS, f"put {out}.age {inbox}/floor_extract.csv.age\n"),
                ]
            )
        if stage == "publish_social_care_summary":
            cols = ", ".join(f"c.{c}" for c in self._level2_columns() if c != "chi_number")
            return self._psql(
                "BEGIN; DROP VIEW IF EXISTS floor_pub; DROP TABLE IF EXISTS floor_pub_v1;"
                f" CREATE TABLE floor_pub_v1 AS SELECT COALESCE(c.chi_number, l.chi_number) AS chi_number, {cols}"
                " FROM floor_clients c LEFT JOIN floor_links l ON l.source_id = c.source_id"
                " WHERE COALESCE(c.chi_number, l.chi_number) IS NOT NULL;"
                " CREATE VIEW floor_pub AS SELECT * FROM floor_pub_v1; COMMIT;"
            )
        raise ValueError(stage)

    def _level2_columns(self) -> list[str]:
        from crosswalk.agreements.egress import gate

        cfg = self.project.cfg
        feed = cfg.feeds["clients-to-health"]
        schema = cfg.schemas[cfg.inbound(feed.source_feed).schema_id]
        plan = gate(cfg.agreements[feed.agreement], schema.id, NHS, schema.field_names, on=date.today(),
                    key_for=lambda _: b"\0" * 32)  # fmt: skip
        return list(plan.sent)


def plain_splink(clients_csv: str, index_csv: str, out_csv: str) -> None:
    """The floor's matching: plain Splink's standard model (bench/matching.py) linking the clients to the
    index, its links at p >= 0.5 written as CSV (source_id, chi_number, probability)."""
    import pandas as pd
    from matching import _plain_linker

    cols = ["forename", "surname", "date_of_birth", "postcode"]
    clients = pd.read_csv(clients_csv, dtype=str, keep_default_na=False)
    index = pd.read_csv(index_csv, dtype=str, keep_default_na=False)
    left = clients[["source_id", *cols]].rename(columns={"source_id": "record_id"})
    right = index[["chi_number", *cols]].rename(columns={"chi_number": "record_id"})
    linker = _plain_linker({"a": left, "b": right}, "link_only")
    scored = linker.inference.predict(threshold_match_probability=0.5).as_pandas_dataframe()
    flip = scored["source_dataset_l"] != "a"
    pd.DataFrame(
        {
            "source_id": scored["unique_id_l"].where(~flip, scored["unique_id_r"]),
            "chi_number": scored["unique_id_r"].where(~flip, scored["unique_id_l"]),
            "p": scored["match_probability"],
        }
    ).sort_values("p", ascending=False).drop_duplicates("source_id").to_csv(out_csv, index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--plain-splink", nargs=3, metavar=("CLIENTS", "INDEX", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_splink:
        plain_splink(*args.plain_splink)
        return
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="crosswalk-bench-airflow-"))
    from tests.support.sshd import start_sshd

    sshd = start_sshd([COUNCIL, NHS])
    rows = []
    try:
        for n, size in enumerate(args.sizes):
            work = Path(tempfile.mkdtemp(prefix=f"crosswalk-bench-e2e-{size}-"))
            kept = True  # on failure the work directory stays, for its logs
            try:
                world = Exchange(size, sshd, work)
                startup = world.start_airflow()
                print(json.dumps({"size": size, "airflow_startup_s": startup}), flush=True)
                rows.append({"size": size, "stage": "Airflow start-up (once)", "ours_s": startup, "ours_mb": 0,
                             "floor_s": 0.0, "floor_mb": 0})  # fmt: skip
                for i, stage in enumerate(STAGES):
                    order = ("ours", "floor") if (i + n) % 2 == 0 else ("floor", "ours")
                    got = {}
                    for route in order:
                        got[route] = world.ours(stage) if route == "ours" else world.floor(stage)
                    row = {"size": size, "stage": stage, "first": order[0], **{
                        f"{r}_{k}": v for r, (s, m) in got.items() for k, v in (("s", s), ("mb", m))}}  # fmt: skip
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                world.stop_airflow()
                kept = False
            finally:
                if not kept:
                    shutil.rmtree(work, ignore_errors=True)
    finally:
        sshd.stop()
    _table(rows)


def _table(rows: list[dict]) -> None:
    print()
    print(f"{'clients':>9}  {'stage':<30} {'ours s':>8} {'floor s':>8} {'ratio':>6} {'ours MB':>8} {'floor MB':>8}")
    for size in sorted({r["size"] for r in rows}):
        mine = [r for r in rows if r["size"] == size]
        for r in mine:
            ratio = f"{r['ours_s'] / r['floor_s']:>6.2f}" if r["floor_s"] else f"{'':>6}"
            print(f"{size:>9,}  {r['stage']:<30} {r['ours_s']:>8.1f} {r['floor_s']:>8.1f} "
                  f"{ratio} {r['ours_mb'] or '':>8} {r['floor_mb'] or '':>8}")  # fmt: skip
        ours, floor = sum(r["ours_s"] for r in mine), sum(r["floor_s"] for r in mine)
        print(f"{size:>9,}  {'whole chain':<30} {ours:>8.1f} {floor:>8.1f} {ours / floor:>6.2f}")
    sizes = sorted({r["size"] for r in rows})
    if len(sizes) > 1:
        print()
        print("seconds per 1,000 clients (ours), by size: flat or falling is linear")
        for stage in STAGES:
            per = [next(r["ours_s"] for r in rows if r["size"] == s and r["stage"] == stage) / s * 1000 for s in sizes]
            print(f"  {stage:<30} " + "  ".join(f"{s:>9,}: {p:6.3f}" for s, p in zip(sizes, per, strict=True)))


if __name__ == "__main__":
    main()
