"""Disclosure-log benchmark: "where has this person's data gone?" among 10M disclosed records, ours beside what an
IG officer would do without the log: open every delivered file and search it.

Usage: ``.venv/bin/python bench/disclosures.py [--records 10000000] [--per-file 100000] [--lookups 200]`` (or
``make bench-disclosures``). It builds, in a fresh PostgreSQL database, the log of ``records / per-file``
deliveries of ``per-file`` client records each (the demo's synthetic people with fresh CHIs), written by
``crosswalk.disclosures.record`` as a delivery writes it (one transaction per delivery, COPY), and the same
deliveries as the files a partner received (CSV encrypted with ``age``). Then:

- crosswalk: ``disclosures.lookup`` by CHI (hash the CHI under our key, one indexed query), for ``--lookups``
  people drawn at random; median and 99th percentile;
- files: ``age -d`` of every delivered file piped to ``grep -c`` for the CHI, for a few of the same people
  (all the files each time): the floor of answering the question from the deliveries themselves.

Also reported: the log's write time per 100k-record delivery and its size on disk (table and indexes).
Timing is printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

ADMIN = os.environ.get("CROSSWALK_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DB = "crosswalk_bench_disclosures"
FIELDS = ("source_id", "chi_number", "forename", "surname", "date_of_birth", "sex", "postcode")


def _url(db: str) -> str:
    return ADMIN.rsplit("/", 1)[0] + "/" + db


def _fresh_database():
    from sqlalchemy import create_engine, text

    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DB}"'))
    admin.dispose()


def _chis(n: int, rng: random.Random) -> list[str]:
    """Distinct, well-formed CHIs (date of birth, serial, check digit)."""
    from crosswalk.identifiers import mod11_check_digit

    out, seen = [], set()
    while len(out) < n:
        d, m, y, serial = rng.randint(1, 28), rng.randint(1, 12), rng.randint(0, 99), rng.randint(0, 999)
        first9 = f"{d:02d}{m:02d}{y:02d}{serial:03d}"
        check = mod11_check_digit(first9)
        if check is None or first9 in seen:
            continue
        seen.add(first9)
        out.append(first9 + str(check))
    return out


def main() -> None:
    import pandas as pd

    from crosswalk import disclosures
    from crosswalk.staging.db import make_engine
    from crosswalk.staging.migrations import upgrade

    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=10_000_000)
    ap.add_argument("--per-file", type=int, default=100_000)
    ap.add_argument("--lookups", type=int, default=200)
    ap.add_argument("--file-lookups", type=int, default=3)
    args = ap.parse_args()
    files = args.records // args.per_file
    rng = random.Random(7)
    key = secrets.token_bytes(32)
    # The population: people appear in several deliveries, as a client does over months.
    people = _chis(max(args.records // 5, args.per_file), rng)

    _fresh_database()
    engine = make_engine(_url(DB))
    upgrade(engine)
    work = Path(tempfile.mkdtemp(prefix="crosswalk-bench-disclosures-"))
    identity = work / "key.txt"
    subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)
    recipient = subprocess.run(["age-keygen", "-y", str(identity)], check=True, capture_output=True, text=True)
    write_s, encrypt_s = [], []
    print(f"building {files} deliveries of {args.per_file:,} records ({args.records:,} in all) ...", flush=True)
    for i in range(files):
        chis = rng.sample(people, args.per_file)
        frame = pd.DataFrame({
            "source_id": [f"MOS{i:04d}{j:07d}" for j in range(args.per_file)], "chi_number": chis,
            "forename": "Isla", "surname": "Example", "date_of_birth": "1950-01-01", "sex": "F", "postcode": "",
        })  # fmt: skip
        d = disclosures.Disclosure(
            f"{i:064x}", disclosures.DELIVERY, "nhs-northshire", "clients-to-health", f"council-clients-{i:016x}",
            "northshire-isp", 2, 2, FIELDS, f"social_care_clients_{i:016x}.csv.age", datetime(2026, 1, 1 + i % 28),
        )  # fmt: skip
        t0 = time.perf_counter()
        rows = disclosures.person_rows(key, d.number, frame, FIELDS, chi=frame["chi_number"], id_column="source_id")
        with engine.begin() as conn:
            disclosures.record(conn, d, [rows])
        write_s.append(time.perf_counter() - t0)
        if i < 5 or i % 10 == 0:
            print(f"  delivery {i + 1}/{files}: logged in {write_s[-1]:.2f} s", flush=True)
        plain, enc = work / f"d{i}.csv", work / f"d{i}.csv.age"
        frame.to_csv(plain, index=False)
        t0 = time.perf_counter()
        subprocess.run(["age", "-r", recipient.stdout.strip(), "-o", str(enc), str(plain)], check=True)
        encrypt_s.append(time.perf_counter() - t0)
        plain.unlink()
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE disclosure_person")
        size = conn.exec_driver_sql("SELECT pg_total_relation_size('disclosure_person')").scalar()

    asked = rng.sample(people, args.lookups)
    ours = []
    for chi in asked:
        t0 = time.perf_counter()
        found = disclosures.lookup(engine, key, disclosures.CHI, chi)
        ours.append(time.perf_counter() - t0)
        assert all(f.recipient == "nhs-northshire" for f in found)
    theirs, agree = [], 0
    for chi in asked[: args.file_lookups]:
        t0 = time.perf_counter()
        hits = 0
        for i in range(files):
            out = subprocess.run(
                f"age -d -i {identity} {work / f'd{i}.csv.age'} | grep -c ',{chi},' || true",
                shell=True, capture_output=True, text=True, check=True,
            )  # fmt: skip
            hits += int(out.stdout.strip() or 0) > 0
        theirs.append(time.perf_counter() - t0)
        agree += hits == len(disclosures.lookup(engine, key, disclosures.CHI, chi))
    data = sum(p.stat().st_size for p in work.glob("*.age"))
    print()
    print(f"{args.records:,} disclosed records in {files} deliveries; {len(people):,} people; PostgreSQL "
          f"{engine.dialect.server_version_info[0]}; the log {size / 1e6:,.0f} MB (rows and indexes)")  # fmt: skip
    print(f"{'route':<52}{'median':>12}{'p99':>12}")
    p99 = sorted(ours)[int(len(ours) * 0.99) - 1]
    print(f"{'crosswalk: disclosures.lookup by CHI':<52}{statistics.median(ours) * 1e3:>9.2f} ms{p99 * 1e3:>9.2f} ms")
    print(f"{'files: age -d | grep over every delivery':<52}{statistics.median(theirs):>10.1f} s{'':>12}"
          f"  ({data / 1e9:.2f} GB of deliveries)")  # fmt: skip
    print(
        f"ratio files / crosswalk (median): {statistics.median(theirs) / statistics.median(ours):,.0f}x;"
        f" both found the same deliveries for {agree} of {len(theirs)} people"
    )
    print(
        f"logging one delivery of {args.per_file:,} records: median {statistics.median(write_s):.2f} s"
        f" (encrypting the same file with age: {statistics.median(encrypt_s):.2f} s)"
    )
    subprocess.run(["rm", "-rf", str(work)], check=True)
    engine.dispose()


if __name__ == "__main__":
    main()
