"""Transfer benchmark: Crosswalk's route against the OpenSSH route a partner would use by hand.

    sudo .venv/bin/python bench/transfer.py [--mib 1024] [--runs 5]      (or: make bench-transfer)

Both routes move the same file through the same local OpenSSH sshd (chrooted SFTP user, as in
the tests), with the same cipher (aes128-gcm):

- ours, up:     age-encrypt (crosswalk.crypto.age) + sign the manifest + upload (the pipelines' bulk
                transport: crosswalk.transfer.openssh where the OpenSSH client is installed, else
                crosswalk.transfer.asyncssh_bulk)
- ours, down:   download (same transport, resumable) + sha256 check + age-decrypt
- OpenSSH, up:  `age -e` + `sftp put`
- OpenSSH, down: `sftp get` + `age -d`

Each step runs in its own process so peak RSS is measured per route (max over its processes).
Prints MB/s (MiB moved / wall seconds) and peak RSS, median of the runs, and our/OpenSSH ratios.
Needs root (for the chrooted sshd) and the `age` CLI.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.sshd import start_sshd  # noqa: E402  (reads sshd.BASE_ROOT at call time)

CIPHER = "aes128-gcm@openssh.com"

OURS_UP = """
import io, sys
from pathlib import Path
from crosswalk.crypto import age, sshsig
from crosswalk.manifest import manifest_for_drop
from crosswalk.transfer import asyncssh_bulk, bulk, openssh
transport = openssh if openssh.available() else asyncssh_bulk  # the pipelines' choice
host, port, user, host_key, key_file, recipient, plain, work, rows = sys.argv[1:]
plain, work = Path(plain), Path(work)
enc = work / (plain.name + ".age")
import time
t0 = time.perf_counter()  # the work itself; interpreter start-up is paid once per Airflow worker
pd, _ = age.encrypt_file(plain, enc, [recipient], hash_ciphertext=False)
from concurrent.futures import ThreadPoolExecutor
from crosswalk.hashing import file_digest
ep = bulk.Endpoint(host, int(port), user, (host_key,), Path(key_file).read_text())
t = bulk.Tuning(encryption_algs=("aes128-gcm@openssh.com",))
with ThreadPoolExecutor(1) as pool:  # as the outbound pipeline does: hash the ciphertext while it uploads
    fut = pool.submit(file_digest, enc)
    transport.upload(ep, enc, "/inbox/" + enc.name, t)
    cd = fut.result()
m = manifest_for_drop(plain, enc, feed="bench", schema_id="bench", sender="bench", recipients=[recipient],
                      rows=int(rows), plain_digest=pd, encrypted_digest=cd).to_json()
sig = sshsig.sign(io.BytesIO(m), sshsig.load_private_key(Path(key_file).read_bytes()))
(work / "m.json").write_bytes(m); (work / "m.json.sig").write_text(sig)
asyncssh_bulk.upload(ep, work / "m.json", "/inbox/" + enc.name + ".manifest.json", t)
asyncssh_bulk.upload(ep, work / "m.json.sig", "/inbox/" + enc.name + ".manifest.json.sig", t)
print(time.perf_counter() - t0)
enc.unlink()
"""

OURS_DOWN = """
import sys
from pathlib import Path
from crosswalk.crypto import age
from crosswalk.hashing import file_digest
from crosswalk.transfer import asyncssh_bulk, bulk, openssh
transport = openssh if openssh.available() else asyncssh_bulk  # the pipelines' choice
host, port, user, host_key, key_file, identity, remote, expect_sha, work = sys.argv[1:]
work = Path(work)
ep = bulk.Endpoint(host, int(port), user, (host_key,), Path(key_file).read_text())
got = work / "dl.age"
import time
t0 = time.perf_counter()
transport.download(ep, remote, got, bulk.Tuning(encryption_algs=("aes128-gcm@openssh.com",)))
from concurrent.futures import ThreadPoolExecutor
with ThreadPoolExecutor(1) as pool:  # as the inbound pipeline does: hash the ciphertext while it decrypts
    fut = pool.submit(file_digest, got)
    age.decrypt_file(got, work / "dl.plain", age.parse_identities(identity))
    assert fut.result().sha256 == expect_sha, "ciphertext sha256 mismatch"
print(time.perf_counter() - t0)
got.unlink(); (work / "dl.plain").unlink()
"""


def _run(cmd: list[str], **kw) -> tuple[float, float, int]:
    """Wall seconds, work seconds (what the process reports on its last stdout line, else wall) and peak RSS."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, **kw)
    out = p.stdout.read().decode() if p.stdout else ""
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd[:3])} … exit {os.waitstatus_to_exitcode(status)}")
    lines = out.strip().splitlines()
    try:
        work = float(lines[-1]) if lines else wall
    except ValueError:
        work = wall
    return wall, work, usage.ru_maxrss * 1024


def _route(steps) -> tuple[float, float, int]:
    wall = work = 0.0
    peak = 0
    for cmd, kw in steps:
        # Flush every dirty page first, so no step pays for the previous step's disk writeback.
        os.sync()
        w, k, rss = _run(cmd, **kw)
        wall, work, peak = wall + w, work + k, max(peak, rss)
    return wall, work, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument(
        "--disk",
        action="store_true",
        help="work on the machine's disk instead of a private RAM disk (tmpfs); figures then include the "
        "disk's own noise, which on a shared VM swings either route by ±40%% from run to run",
    )
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        base = Path("/var/tmp") if args.disk else stack.enter_context(_ram_disk(5 * args.mib + 512))
        _bench(args, base)


@contextlib.contextmanager
def _ram_disk(mib: int):
    """A private tmpfs for the sshd chroot and the work files, so both routes meet the same memory-speed
    storage and the comparison is of the software, not of the VM's disk."""
    from tests.support import sshd

    mount = Path("/var/lib/crosswalk-bench")
    mount.mkdir(mode=0o755, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={mib}m,mode=0755", "tmpfs", str(mount)], check=True)
    saved, sshd.BASE_ROOT = sshd.BASE_ROOT, mount / "sshd"  # chroot paths must be root-owned, not world-writable
    try:
        yield mount
    finally:
        sshd.BASE_ROOT = saved
        subprocess.run(["umount", str(mount)], check=True)


def _bench(args, base: Path) -> None:
    py = sys.executable
    from crosswalk.crypto import age
    from crosswalk.hashing import file_digest

    srv = start_sshd(["bench"])
    try:
        u = srv.users["bench"]
        ours = age.Identity.generate()
        with tempfile.TemporaryDirectory(prefix="crosswalk-bench-", dir=base) as tmp:
            work = Path(tmp)
            plain = work / "extract.csv"
            # An incompressible one-column CSV: base64 lines of random bytes, 1 MiB per block.
            raw = base64.b64encode(os.urandom(786_432))
            block = b"value\n" + b"\n".join(raw[i : i + 76] for i in range(0, len(raw), 76))[: (1 << 20) - 7] + b"\n"
            body = block.split(b"\n", 1)[1]
            rows = (block.count(b"\n") - 1) + (args.mib - 1) * body.count(b"\n")
            with plain.open("wb") as f:
                f.write(block)
                for _ in range(args.mib - 1):
                    f.write(body[:-1][::-1] + b"\n")
            (work / "id.txt").write_text(age.identity_file_text(ours))
            sftp = [
                "sftp",
                "-q",
                "-b",
                "-",
                "-i",
                str(u.key),
                "-P",
                str(srv.port),
                "-o",
                f"Ciphers={CIPHER}",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                f"UserKnownHostsFile={srv.known_hosts}",
                f"{u.name}@127.0.0.1",
            ]
            conn = ["127.0.0.1", str(srv.port), u.name, srv.host_key_pub, str(u.key)]
            results: dict[str, list[tuple[float, float, int]]] = {
                k: [] for k in ("ours up", "ssh up", "ours down", "ssh down")
            }
            ct = work / "cli.age"

            def ours_round() -> None:
                results["ours up"].append(
                    _route([([py, "-c", OURS_UP, *conn, ours.recipient, str(plain), tmp, str(rows)], {})])
                )
                remote = "/inbox/" + plain.name + ".age"
                sha = file_digest(u.root / "inbox" / (plain.name + ".age")).sha256
                results["ours down"].append(
                    _route([([py, "-c", OURS_DOWN, *conn, age.identity_file_text(ours), remote, sha, tmp], {})])
                )

            def ssh_round() -> None:
                encrypt = ["age", "-e", "-r", ours.recipient, "-o", str(ct), str(plain)]
                results["ssh up"].append(
                    _route([(encrypt, {}), (sftp, {"stdin": _pipe(f"put {ct} /inbox/cli.age\n")})])
                )
                ct.unlink()
                decrypt = ["age", "-d", "-i", str(work / "id.txt"), "-o", str(work / "cli.plain"), str(ct)]
                results["ssh down"].append(
                    _route([(sftp, {"stdin": _pipe(f"get /inbox/cli.age {ct}\n")}), (decrypt, {})])
                )
                ct.unlink()
                (work / "cli.plain").unlink()

            for run in range(args.runs):
                # Alternate which route goes first, so neither always inherits the other's cache state.
                for round_ in (ours_round, ssh_round) if run % 2 == 0 else (ssh_round, ours_round):
                    round_()
                for p in (u.root / "inbox").iterdir():
                    p.unlink()
                print(f"run {run + 1}/{args.runs} done", file=sys.stderr)
    finally:
        srv.stop()

    def med(key):
        wall = statistics.median(r[0] for r in results[key])
        work = statistics.median(r[1] for r in results[key])
        rss = statistics.median(r[2] for r in results[key])
        return args.mib / work, args.mib / wall, rss / 2**20

    where = "the machine's disk" if args.disk else "a RAM disk (tmpfs)"
    print(f"\n{args.mib} MiB, cipher {CIPHER}, median of {args.runs}, local OpenSSH sshd, files on {where}")
    print("MB/s = MiB / seconds of the work; 'with start-up' adds launching Python and its imports (paid once per")
    print("Airflow worker, not per task). The OpenSSH route's tools are native and start in milliseconds.\n")
    print(f"{'direction':<10} {'route':<40} {'MB/s':>8} {'with start-up':>14} {'peak RSS MB':>12}")
    for d in ("up", "down"):
        o, s = med(f"ours {d}"), med(f"ssh {d}")
        what = "encrypt + sign + upload" if d == "up" else "download + verify + decrypt"
        cli = "age -e + sftp put" if d == "up" else "sftp get + age -d"
        print(f"{d:<10} {'crosswalk: ' + what:<40} {o[0]:>8.0f} {o[1]:>14.0f} {o[2]:>12.0f}")
        print(f"{'':<10} {'openssh:   ' + cli:<40} {s[1]:>8.0f} {s[1]:>14.0f} {s[2]:>12.0f}")
        print(f"{'':<10} {'ratio crosswalk / openssh':<40} {o[0] / s[1]:>8.2f} {o[1] / s[1]:>14.2f}")
        per_run = [s_[0] / o_[1] for o_, s_ in zip(results[f"ours {d}"], results[f"ssh {d}"], strict=True)]
        print(f"{'':<10} {'  per run (work)':<40} {' '.join(f'{r:.2f}' for r in per_run):>23}")


def _pipe(text: str):
    r, w = os.pipe()
    os.write(w, text.encode())
    os.close(w)
    return r


if __name__ == "__main__":
    main()
