"""`make compose-test`: the production-shaped stack boots here and moves a file, checked end to end.

Starts a Docker engine if none answers; builds the images (`docker/images.sh`; offline stand-ins when no registry
is reachable); provisions keys (`docker/compose_keys.py`); `up`; waits for every service's health; then, as the
partners and as an operator through the REST API:

1. the board drops its CHI index and the council several client extracts (standard tools: `age`,
   `ssh-keygen -Y sign`, `sftp`, through the SFTP containers' published ports, host keys pinned);
2. the inbound runs: every run succeeds, and the mapped `ingest_drop` tasks ran on both Celery workers;
3. the outbound run: one worker is killed (`docker kill`) while it runs a `deliver_batch`; the task is retried
   on the other worker and the run succeeds;
4. the deliveries in the board's inbox: one data file, manifest and signature per batch (no duplicate, no
   `.part`), each manifest verified with `ssh-keygen -Y verify`, each file opened with `age -d` to exactly the
   agreement's columns at the board's level; staged rows equal the rows dropped; the audit chain verifies;
5. the board's feed is `on_arrival`: the triggerer's watcher fires once for its first drop (held: the feed has not
   graduated), the operator's manual run graduates it, and a later drop fires exactly one run that stages it;
6. `down -v` leaves no container, network or volume of the stack.

A failure prints the failing service's log tail. Prints what it saw (hostnames, attempts, seconds).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]

from crosswalk.config.loader import load_config  # noqa: E402
from crosswalk.demo.synthetic import (  # noqa: E402
    CLIENT_COLUMNS,
    INDEX_COLUMNS,
    LIST_COLUMNS,
    client_rows,
    index_rows,
    list_rows,
    people,
    write_csv,
)
from tests.support.compose_stack import (  # noqa: E402
    COUNCIL,
    LOCAL,
    NHS,
    PROJECT,
    Partner,
    Stack,
    StackFailed,
    docker_engine,
    run,
    say,
)
from tests.support.project import edit_yaml  # noqa: E402

CLIENT_DROPS, CLIENTS_PER_DROP = 6, 150
ARRIVAL_POLL_SECONDS = 5


def level_columns(cfg, agreement_id: str, dataset: str, partner: str) -> tuple[int, set[str]]:
    """The partner's level under the agreement in force, and the columns that level lets through."""
    from datetime import date

    agreement = cfg.agreements[agreement_id].in_force(date.today())
    level = agreement.level_for(partner)
    return level, {n for n, f in agreement.datasets[dataset].fields.items() if f.transform_at(level) != "drop"}


def our_recipient() -> str:
    """Our age recipient, as we hand it to partners (from the identity file compose-keys wrote)."""
    key = (LOCAL / "secrets" / "crosswalk.agekey").read_text().splitlines()
    return next(ln for ln in key if ln.startswith("# public key:")).split()[-1]


def exchange(stack: Stack, work: Path) -> dict:
    cfg = load_config(LOCAL / "config", ROOT / "include" / "schemas")
    ours = our_recipient()
    nhs, council = Partner(NHS, work), Partner(COUNCIL, work)
    population = people(CLIENT_DROPS * CLIENTS_PER_DROP + 100, seed=7)
    index = write_csv(index_rows(population), INDEX_COLUMNS, work / "chi_index_20261127.csv")
    nhs.drop(index, "health-index", "health_board_index", ours)
    for i in range(CLIENT_DROPS):
        chunk = population[i * CLIENTS_PER_DROP : (i + 1) * CLIENTS_PER_DROP]
        plain = write_csv(client_rows(chunk), CLIENT_COLUMNS, work / f"clients_202611{10 + i}.csv")
        council.drop(plain, "council-clients", "social_care_client", ours)
    # The agreement withholds the people on the council's objections register: nothing leaves until it is in.
    objections = write_csv(list_rows(), LIST_COLUMNS, work / "objections_20261127.csv")  # nobody has objected
    council.drop(objections, "council-objections", "person_list", ours)
    say(f"partners dropped 1 CHI index ({len(population)} people), {CLIENT_DROPS} client extracts "
        f"({CLIENTS_PER_DROP} each) and the council's objections register (age, ssh-keygen -Y sign, sftp)")  # fmt: skip

    stack.login()
    for dag_id in ("inbound_health_index", "inbound_council_clients", "outbound_clients_to_health"):
        stack.wait_for_dag(dag_id)
    pools = {p["name"]: p["slots"] for p in stack.api("GET", "/api/v2/pools")["pools"]}
    seen: dict = {"pools": {n: s for n, s in pools.items() if n.startswith("crosswalk_sftp_")}}
    if set(seen["pools"]) != {partner.sftp_pool for partner in cfg.partners.values()}:
        raise StackFailed(f"the SFTP pools are {pools}, not one per partner", "airflow-init")
    say(f"the init service made the SFTP pools: {seen['pools']}")
    offered = {m["connection_type"]: m for m in stack.api("GET", "/ui/connections/hook_meta")}
    seen["connection_types"] = sorted(t for t in offered if t.startswith(("crosswalk_", "postgres", "sftp")))
    if not {"crosswalk_age", "crosswalk_signing_key", "crosswalk_pseudonymisation_key", "postgres", "sftp"} <= set(
        offered
    ):
        raise StackFailed(f"the Add Connection form offers {sorted(offered)}", "airflow-apiserver")
    say(f"the Add Connection form offers {seen['connection_types']}")

    # The board's feed is on_arrival, not yet graduated: the triggerer's watcher fires for its complete drop and
    # the run is held at its first task; the operator's manual run takes the drop in and graduates the feed.
    [held] = stack.wait_for("asset-triggered run for the first index drop", lambda: arrival_runs(stack))
    stack.wait_run("inbound_health_index", held["dag_run_id"])
    t0 = time.monotonic()
    run_id = stack.trigger("inbound_health_index")
    stack.wait_run("inbound_health_index", run_id)
    stack.wait_for_dag("inbound_council_objections")
    stack.wait_run("inbound_council_objections", stack.trigger("inbound_council_objections"))
    run_id = stack.trigger("inbound_council_clients")
    stack.wait_run("inbound_council_clients", run_id)
    ingest = [t for t in stack.task_instances("inbound_council_clients", run_id) if t["task_id"] == "ingest_drop"]
    seen["ingest_hosts"] = sorted({t["hostname"] for t in ingest})
    say(f"inbound runs succeeded in {time.monotonic() - t0:.0f} s; {len(ingest)} mapped ingest_drop tasks ran on "
        f"{seen['ingest_hosts']}")  # fmt: skip
    if len(seen["ingest_hosts"]) < 2:
        raise StackFailed(f"mapped ingest_drop ran on {seen['ingest_hosts']} only, not on both workers")

    # The outbound run, with a worker killed under one of its deliveries.
    run_id = stack.trigger("outbound_clients_to_health")
    killed: dict = {}

    ran_on: set[str] = set()  # every worker seen running or finishing a delivery, attempt by attempt

    def kill_a_worker_mid_delivery() -> None:
        tis = [t for t in stack.task_instances("outbound_clients_to_health", run_id) if t["task_id"] == "deliver_batch"]
        ran_on.update(t["hostname"] for t in tis if t.get("hostname"))
        if killed.get("confirmed"):
            return
        if killed:  # did the kill land mid-task? A task lost with its worker is retried (try 2), never succeeds at 1
            target = next(t for t in tis if t["map_index"] == killed["map_index"])
            if target["state"] == "success" and target["try_number"] == 1:
                say(f"deliver_batch[{killed['map_index']}] finished before the kill landed; restarting the worker")
                run("docker", "update", "--restart=always", killed["cid"])
                run("docker", "start", killed["cid"])
                killed.clear()
            elif target["state"] != "running" or target["try_number"] > 1:
                killed["confirmed"] = True
            return
        running = [t for t in tis if t["state"] == "running" and t.get("hostname")]
        if running:
            t = max(running, key=lambda t: t.get("start_date") or "")  # the latest started: the most left to do
            service = f"airflow-{t['hostname']}"
            cid = stack.container(service)
            run("docker", "update", "--restart=no", cid)  # stays down until the retry has run elsewhere
            run("docker", "kill", cid)
            killed.update(service=service, map_index=t["map_index"], host=t["hostname"], cid=cid)
            say(f"killed {service} (docker kill) while it ran deliver_batch[{t['map_index']}]")

    t0 = time.monotonic()
    stack.wait_run("outbound_clients_to_health", run_id, during=kill_a_worker_mid_delivery)
    if not killed.get("confirmed"):
        raise StackFailed("no deliver_batch was killed mid-task (none seen running long enough)")
    deliveries = [t for t in stack.task_instances("outbound_clients_to_health", run_id)
                  if t["task_id"] == "deliver_batch"]  # fmt: skip
    retried = next(t for t in deliveries if t["map_index"] == killed["map_index"])
    seen.update(deliver_hosts=sorted(ran_on | {t["hostname"] for t in deliveries}), killed=killed["service"],
                retried_on=retried["hostname"], retried_try=retried["try_number"])  # fmt: skip
    say(
        f"outbound run succeeded in {time.monotonic() - t0:.0f} s; deliver_batch[{killed['map_index']}] "
        f"finished on {retried['hostname']} at try {retried['try_number']}; deliveries ran on {seen['deliver_hosts']}"
    )
    if retried["hostname"] == killed["host"] or retried["try_number"] < 2:
        raise StackFailed(f"the killed delivery was not retried on the other worker: {retried}")
    run("docker", "update", "--restart=always", killed["cid"])
    run("docker", "start", killed["cid"])
    # The restarted worker's work root is usable again (a `tmpfs:` mount came back root 0755 and every task on
    # that worker failed; its own tmpfs volume comes back as configured).
    work_root = run("docker", "exec", killed["cid"], "stat", "-c", "%a %u", "/crosswalk-work").stdout.split()
    seen["restarted_work_root"] = work_root
    if work_root != ["700", os.environ.get("AIRFLOW_UID", "50000")]:
        raise StackFailed(f"{killed['service']} restarted with /crosswalk-work {work_root}", killed["service"])
    say(f"{killed['service']} restarted; its work root's tmpfs is mode {work_root[0]}, owner {work_root[1]}")

    # The board's inbox, read and checked as the board would.
    names = [n for n in nhs.inbox() if n != "receipts"]  # the board's receipts for its own drops sit apart
    receipts = nhs.inbox("/inbox/receipts")
    signed = [n for n in receipts if n.endswith(".json") and f"{n}.sig" in receipts]
    if not signed or len(receipts) != 2 * len(signed):
        raise StackFailed(f"the board's receipts folder holds {receipts}: expected a signed receipt per drop")
    seen["board_receipts"] = len(signed)
    say(f"the board's inbox holds its deliveries and, in receipts/, {len(signed)} signed receipt(s) for its own drops")
    data = [n for n in names if n.endswith(".csv.age")]
    if len(data) != CLIENT_DROPS or any(n.endswith(".part") for n in names) or len(names) != 3 * len(data):
        raise StackFailed(f"the board's inbox holds {names}: expected {CLIENT_DROPS} deliveries of 3 files")
    got = work / "got"
    got.mkdir()
    nhs.sftp("".join(f"get /inbox/{n} {got / n}\n" for n in names))
    allowed = work / "allowed_signers"
    our_key = (LOCAL / "secrets" / "crosswalk_signing_ed25519.pub").read_text().split()[:2]
    allowed.write_text("crosswalk " + " ".join(our_key) + "\n")  # what we give partners to pin
    level, expected = level_columns(cfg, "northshire-isp", "social_care_client", NHS)
    rows = 0
    for name in data:
        manifest = got / f"{name}.manifest.json"
        verified = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", "crosswalk", "-n",
                                   "crosswalk-manifest", "-s", f"{manifest}.sig"], stdin=manifest.open("rb"),
                                  capture_output=True, check=False)  # fmt: skip
        if verified.returncode != 0:
            raise StackFailed(f"{name}: the manifest's signature does not verify")
        plain = run("age", "-d", "-i", str(nhs.identity), str(got / name)).stdout
        table = list(csv.reader(io.StringIO(plain)))
        if set(table[0]) != expected:
            raise StackFailed(f"{name}: columns {table[0]} are not the agreement's level columns {sorted(expected)}")
        if len(table) - 1 != json.loads(manifest.read_text())["rows"]:
            raise StackFailed(f"{name}: row count differs from its manifest")
        rows += len(table) - 1
    say(
        f"{len(data)} deliveries verified (ssh-keygen -Y verify) and opened (age -d): {rows} rows, columns exactly "
        f"northshire-isp allows at level {level}"
    )
    if rows != CLIENT_DROPS * CLIENTS_PER_DROP:
        raise StackFailed(f"{rows} rows delivered, {CLIENT_DROPS * CLIENTS_PER_DROP} dropped")

    sql = stack.sql

    # Exactly once: one staged batch per client drop, each with the drop's rows; one delivery per batch.
    per_batch = sql("SELECT count(*) FROM stg_social_care_client GROUP BY batch_id ORDER BY 1")
    batches = sql("SELECT count(*) FROM batch WHERE feed_id = 'council-clients' AND status = 'staged'")
    delivered = sql("SELECT count(*) FROM delivery WHERE feed_id = 'clients-to-health' AND status = 'delivered'")
    seen.update(rows_per_staged_batch=per_batch, staged_batches=batches, deliveries=delivered)
    if per_batch != [str(CLIENTS_PER_DROP)] * CLIENT_DROPS or batches != [str(CLIENT_DROPS)] or delivered != batches:
        raise StackFailed(f"staged/delivered not exactly once: {per_batch}, {batches}, {delivered}", "postgres")
    arrival(stack, work, seen)
    chain = stack.compose("exec", "-T", "airflow-scheduler", "crosswalk", "audit", "verify", check=False)
    say(chain.stdout.strip())
    if chain.returncode != 0:
        raise StackFailed(f"audit chain: {chain.stdout.strip()} {chain.stderr.strip()[-300:]}", "airflow-scheduler")
    return seen


def arrival_runs(stack: Stack) -> list[dict]:
    runs = stack.api("GET", "/api/v2/dags/inbound_health_index/dagRuns?order_by=run_after&limit=100")["dag_runs"]
    return [r for r in runs if r["run_type"] == "asset_triggered"]


def arrival(stack: Stack, work: Path, seen: dict) -> None:
    """Once graduated, a complete drop fires exactly one run, on the triggerer in the stack, which stages it."""
    nhs = Partner(NHS, work)
    ours = our_recipient()
    index = write_csv(index_rows(people(40, seed=11)), INDEX_COLUMNS, work / "chi_index_20261128.csv")
    t0 = time.monotonic()
    nhs.drop(index, "health-index", "health_board_index", ours)
    runs = stack.wait_for(
        "an asset-triggered run for the second index drop", lambda: len(r := arrival_runs(stack)) == 2 and r
    )
    stack.wait_run("inbound_health_index", runs[-1]["dag_run_id"])
    fired_in = time.monotonic() - t0
    time.sleep(3 * ARRIVAL_POLL_SECONDS)
    if len(arrival_runs(stack)) != 2:
        raise StackFailed(f"the watcher fired {len(arrival_runs(stack))} runs for 2 drops", "airflow-triggerer")
    staged = stack.sql("SELECT file_name FROM batch WHERE feed_id = 'health-index' AND status = 'staged' ORDER BY 1")
    if staged != ["chi_index_20261127.csv.age", "chi_index_20261128.csv.age"]:
        raise StackFailed(f"health-index batches staged: {staged}", "postgres")
    held = stack.sql("SELECT count(*) FROM audit_event WHERE event = 'run.held'")
    seen.update(arrival_runs=2, held_runs=held, arrival_seconds=round(fired_in))
    say(f"on_arrival: the triggerer fired once per complete drop (the first held before graduation); the second "
        f"drop was staged {fired_in:.0f} s after its upload; staged {staged}")  # fmt: skip


def arrival_config() -> str:
    """The stack's pinned config, with the board's feed on_arrival (its agreement approves automation; one
    manual run graduates it). Returns its directory inside the containers."""
    src, dst = LOCAL / "config", LOCAL / "config-arrival"
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    edit_yaml(dst / "feeds" / "health-index.yaml", schedule="on_arrival")
    approval = {"approved": True, "by": "Dr Iain Fraser (Caldicott Guardian)", "on": "2026-11-10"}
    edit_yaml(dst / "agreements" / "northshire-isp-health-to-council.v1.yaml", automation=approval)
    edit_yaml(dst / "crosswalk.yaml", graduation={"manual_runs": 1}, arrival_poll_seconds=ARRIVAL_POLL_SECONDS)
    return "/opt/crosswalk/local/config-arrival"


def main() -> int:
    t_start = time.monotonic()
    docker_engine()
    if os.environ.get("CROSSWALK_SKIP_IMAGES") != "1":
        subprocess.run(["bash", str(ROOT / "docker" / "images.sh")], check=True)
    subprocess.run([sys.executable, str(ROOT / "docker" / "compose_keys.py")], check=True)
    stack = Stack(config_dir=arrival_config())
    stack.compose("down", "-v", "--remove-orphans", check=False)
    failed: StackFailed | None = None
    try:
        t0 = time.monotonic()
        stack.compose("up", "-d", "--no-build")
        stack.wait_healthy()
        say(f"every service healthy {time.monotonic() - t0:.0f} s after up")
        with tempfile.TemporaryDirectory(prefix="crosswalk-compose-") as work:
            seen = exchange(stack, Path(work))
        say(f"seen: {json.dumps(seen)}")
    except StackFailed as exc:
        failed = exc
    except subprocess.CalledProcessError as exc:
        failed = StackFailed(f"{' '.join(map(str, exc.cmd))[:200]} exited {exc.returncode}: {exc.stderr[-500:]}")
    except urllib.error.HTTPError as exc:
        failed = StackFailed(f"REST API {exc.code} on {exc.url}: {exc.read()[:300]!r}", "airflow-apiserver")
    if failed is not None:
        say(f"FAILED: {failed}")
        for service in [failed.service] if failed.service else ["airflow-scheduler", "airflow-worker-1"]:
            print(f"--- {service}: last lines ---\n{stack.log_tail(service)}")
    stack.compose("down", "-v", "--remove-orphans", check=False)
    label = f"label=com.docker.compose.project={PROJECT}"
    left = run("docker", "ps", "-aq", "--filter", label).stdout.split()
    volumes = run("docker", "volume", "ls", "-q", "--filter", label).stdout.split()
    networks = run("docker", "network", "ls", "-q", "--filter", label).stdout.split()
    say(f"down -v: {len(left)} container(s), {len(volumes)} volume(s), {len(networks)} network(s) left")
    if left or volumes or networks:
        return 1
    say(f"{'FAILED' if failed else 'OK'} in {time.monotonic() - t_start:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
