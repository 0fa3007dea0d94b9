"""Discovery of a busy outbox: 20,000 files, 5,000 complete drops new, the rest already in the ledger.

Ours is one run's discovery as the inbound flow does it (`crosswalk.pipeline.inbound.discover`: one SFTP
listing over the pinned session, classification, one ledger query that leaves out the drops already
terminal, the oldest `max_drops_per_run` chosen). The reference is the partner's own view of the same
folder over the same server: OpenSSH's `sftp` client listing it (`ls -l`), as the README's partner guide
does. Both against the real OpenSSH sshd of the test suite, on 127.0.0.1 (needs root, as the suite does).

    make bench-discovery        # or: .venv/bin/python bench/discovery.py --runs 5
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

COUNCIL = "northshire-council"
FEED = "council-clients"


def _fill(outbox: Path, user: str, new: int, done: int) -> list[tuple[str, str, str]]:
    """``new + done`` complete drops (three small files each), oldest first by modification time; returns
    the drops (data, manifest, signature) that are already terminal."""
    now = time.time()
    terminal = []
    for i in range(new + done):
        data = f"clients_{i:06d}.csv.age"
        names = (data, data + ".manifest.json", data + ".manifest.json.sig")
        for n in names:
            p = outbox / n
            p.write_bytes(hashlib.sha256(n.encode()).digest())
            os.utime(p, (now - (new + done - i), now - (new + done - i)))
            shutil.chown(p, user=user, group=user)
        if i < done:
            terminal.append(names)
    return terminal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new", type=int, default=5_000, help="complete drops not yet taken in")
    parser.add_argument("--done", type=int, default=1_667, help="complete drops already terminal (3 files each)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="crosswalk-bench-airflow-"))

    from crosswalk.drops import Drop
    from crosswalk.orchestration.connections import dispose_engines, engine_for
    from crosswalk.orchestration.sftp import partner_sftp
    from crosswalk.pipeline.inbound import discover, drop_key
    from crosswalk.staging import ledger
    from crosswalk.staging.migrations import upgrade
    from crosswalk.transfer import remote
    from tests.support.project import EnvPatch, make_project
    from tests.support.sshd import start_sshd

    sshd = start_sshd([COUNCIL, "nhs-northshire"])  # every partner of the shipped config needs an account
    work = Path(tempfile.mkdtemp(prefix="crosswalk-bench-discovery-"))
    try:
        project = make_project(work, sshd, f"sqlite:///{work / 'crosswalk.db'}")
        user = sshd.users[COUNCIL]
        outbox = user.path(project.cfg.partners[COUNCIL].sftp.paths.outbox)
        for child in outbox.iterdir():
            child.unlink()
        terminal = _fill(outbox, user.name, args.new, args.done)
        files = sum(1 for _ in outbox.iterdir())
        cfg = project.cfg
        feed, partner = cfg.inbound(FEED), cfg.partners[COUNCIL]
        with EnvPatch(project.env()):
            engine = engine_for(cfg.settings.database_conn_id)
            upgrade(engine)
            with partner_sftp(partner) as sftp:  # the ledger knows the terminal drops by their listed files
                listing = remote.list_entries(sftp, partner.sftp.paths.outbox)
            for data, manifest, sig in terminal:
                key = drop_key(FEED, Drop(FEED, manifest, data, sig), listing)
                ledger.record_drop_seen(engine, key, FEED, f"{FEED}-{key[:16]}", ledger.STAGED)

            ours, listed = [], []
            for _ in range(args.runs):
                t = time.perf_counter()
                with partner_sftp(partner) as sftp:
                    intake = discover(sftp, cfg, feed, engine)
                ours.append(time.perf_counter() - t)
                t = time.perf_counter()
                subprocess.run(
                    ["sftp", "-q", "-b", "-", "-i", str(user.key), "-P", str(sshd.port), "-o", "BatchMode=yes",
                     "-o", f"UserKnownHostsFile={sshd.known_hosts}", "-o", "StrictHostKeyChecking=yes",
                     f"{user.name}@127.0.0.1"],
                    input=f"ls -l {partner.sftp.paths.outbox}\n", capture_output=True, text=True, check=True,
                )  # fmt: skip
                listed.append(time.perf_counter() - t)
            dispose_engines()
        result = {
            "outbox_files": files,
            "complete_drops": len(intake.found.drops),
            "already_taken_in": intake.already,
            "taken_this_run": len(intake.new),
            "backlog": intake.backlog,
            "oldest_taken_first": intake.new[0].data_file == f"clients_{args.done:06d}.csv.age",
            "ours_discovery_s_median": round(statistics.median(ours), 3),
            "openssh_sftp_ls_l_s_median": round(statistics.median(listed), 3),
            "runs": args.runs,
        }
        print(json.dumps(result))
        print(
            f"\n| outbox files | complete drops | already in ledger | taken this run | backlog "
            f"| ours: discovery (s) | OpenSSH `sftp` `ls -l` (s) |\n|---|---|---|---|---|---|---|\n"
            f"| {files} | {len(intake.found.drops)} | {intake.already} | {len(intake.new)} | {intake.backlog} "
            f"| {result['ours_discovery_s_median']} | {result['openssh_sftp_ls_l_s_median']} |"
        )
    finally:
        sshd.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
