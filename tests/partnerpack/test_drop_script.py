"""The POSIX drop script's own checks, run as a partner runs them (``sh drop.sh --check``), with no Python on its
PATH: the header against the schema, the row count as our validator counts records, and file names. The Windows
script is a step-for-step mirror, checked here by comparing the two (PowerShell cannot be installed here)."""

from __future__ import annotations

import re
import subprocess
from datetime import date
from pathlib import Path

import pytest

from crosswalk.crypto import sshsig
from crosswalk.manifest import Manifest, count_csv_rows
from crosswalk.partnerpack.pack import OurKeys, build_pack, script
from tests.support.offline import offline_project

COUNCIL = "northshire-council"
OUR_FIELDS = {"agreement_id", "agreement_version", "level", "fields", "transforms"}  # set on what we send only


def no_python_path(tmp: Path) -> str:
    """A PATH with every command this machine has except Python, as on a partner's machine."""
    bin_dir = tmp / "partner-bin"
    bin_dir.mkdir(exist_ok=True)
    for d in ("/usr/local/bin", "/usr/bin", "/bin"):
        for tool in Path(d).iterdir():
            name = tool.name
            if not name.startswith("python") and not (bin_dir / name).exists():
                (bin_dir / name).symlink_to(tool)
    return str(bin_dir)


def partner_env(tmp: Path) -> dict[str, str]:
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": no_python_path(tmp), "HOME": str(home), "LANG": "C.UTF-8"}


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pack")
    offline = offline_project(tmp)
    signing = sshsig.public_key_line(sshsig.load_private_key(offline.keys.our_signing).public_key())
    keys = OurKeys(signing_key=signing, age_recipients=(offline.keys.ours.recipient,))
    built = build_pack(offline.cfg, COUNCIL, keys, today=date(2026, 11, 27))
    out = tmp / "pack"
    out.mkdir()
    for name, content in built.files.items():
        (out / name).write_bytes(content)
    return out, offline.cfg


def check(pack_dir: Path, csv: Path) -> subprocess.CompletedProcess:
    env = partner_env(pack_dir.parent)
    return subprocess.run(
        ["sh", str(pack_dir / "drop.sh"), "--check", str(csv)], env=env, capture_output=True, text=True, timeout=30
    )


def header(cfg) -> list[str]:
    return cfg.schemas[cfg.inbound("council-clients").schema_id].field_names


def test_no_python_on_the_partner_path(tmp_path):
    path = no_python_path(tmp_path)
    found = subprocess.run(["sh", "-c", "command -v python3 python || true"], env={"PATH": path},
                           capture_output=True, text=True).stdout  # fmt: skip
    assert found == ""


def write(path: Path, text: str, newline: str = "\n") -> Path:
    path.write_bytes(text.replace("\n", newline).encode())
    return path


ROWS = [
    # (what, the rows after the header, newline)
    ("plain rows", "A1,x\nA2,y\n", "\n"),
    ("CRLF line ends", "A1,x\nA2,y\n", "\r\n"),
    ("a quoted field holding a line break", 'A1,"two\nlines"\nA2,"say ""hi"""\n', "\n"),
    ("a quoted line break and CRLF", 'A1,"two\nlines"\nA2,y\n', "\r\n"),
    ("trailing blank lines", "A1,x\n\n\n", "\n"),
    ("no newline at the end", "A1,x\nA2,y", "\n"),
]


@pytest.mark.parametrize(("what", "rows", "newline"), ROWS, ids=[r[0] for r in ROWS])
def test_the_script_counts_records_as_our_validator_does(pack, tmp_path, what, rows, newline):
    pack_dir, cfg = pack
    csv = write(tmp_path / "clients_20261127.csv", ",".join(header(cfg)) + "\n" + rows, newline)
    result = check(pack_dir, csv)
    assert result.returncode == 0, result.stderr
    assert f"({count_csv_rows(csv)} rows)" in result.stdout


@pytest.mark.parametrize("bom", [False, True], ids=["no BOM", "a UTF-8 BOM"])
def test_a_header_that_fits_passes_in_any_order(pack, tmp_path, bom):
    pack_dir, cfg = pack
    cols = list(reversed(header(cfg)))
    csv = tmp_path / "clients_20261127.csv"
    csv.write_bytes((b"\xef\xbb\xbf" if bom else b"") + (",".join(f'"{c}"' for c in cols) + "\nx\n").encode())
    result = check(pack_dir, csv)
    assert result.returncode == 0, result.stderr
    assert "fits the social_care_client schema (1 rows); nothing was sent" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clients_20261127.csv"]  # nothing written


def test_header_problems_are_named_as_our_validator_names_them(pack, tmp_path):
    pack_dir, cfg = pack
    cols = header(cfg)
    bad = [*cols[:3], cols[0], *cols[5:], "Patient Name"]  # a duplicate, two missing, one unknown
    csv = write(tmp_path / "clients_20261127.csv", ",".join(bad) + "\nx\n")
    result = check(pack_dir, csv)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines == [
        f"clients_20261127.csv: duplicate column(s): {cols[0]}",
        f"clients_20261127.csv: 2 of {len(cols)} column(s) missing: {cols[3]}, {cols[4]}",
        f"clients_20261127.csv: unknown column(s) at position(s) {len(bad)} (not in the social_care_client schema)",
        "drop.sh: clients_20261127.csv does not fit the social_care_client schema; nothing was sent",
    ]
    assert "Patient" not in lines[2]  # an unknown column is named by position only (it may be a value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clients_20261127.csv"]


@pytest.mark.parametrize(
    ("what", "content", "says"),
    [
        ("no header row", "A1,Jane,Smith\n", "no header row: none of the 20 expected column names"),
        ("an empty file", "", "the file is empty"),
        ("a header but no rows", None, "a header but no rows"),
    ],
)
def test_a_file_without_header_or_rows_is_refused(pack, tmp_path, what, content, says):
    pack_dir, cfg = pack
    csv = write(tmp_path / "clients_20261127.csv", ",".join(header(cfg)) + "\n" if content is None else content)
    result = check(pack_dir, csv)
    assert result.returncode == 1
    assert says in result.stderr


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("clients 2026.csv", "name files with letters, digits"),
        ("-clients.csv", "name files with letters, digits"),
        ("referrals_20261127.csv", "matches none of your feeds' file names: clients_*.csv"),
    ],
)
def test_file_names_are_checked_before_anything_is_read(pack, tmp_path, name, says):
    pack_dir, _ = pack
    csv = write(tmp_path / name, "x\n")
    result = check(pack_dir, csv)
    assert result.returncode == 1
    assert says in result.stderr


def _steps(text: str, definition: str, call: str) -> tuple[list[str], list[str]]:
    defined = re.findall(definition, text, re.M)
    main = text[text.index("main") :]
    return defined, re.findall(call, main[main.index("{") :], re.M)


def test_the_windows_script_mirrors_the_posix_one_step_for_step():
    sh, ps1 = script("drop.sh").decode(), script("drop.ps1").decode()
    sh_defined, sh_called = _steps(sh, r"^(step_\w+)\(\)", r"^\s+(step_\w+|need_tools|load_settings)\b")
    ps_defined, ps_called = _steps(ps1, r"^function (step_\w+)", r"^\s+(step_\w+|need_tools|load_settings)\b")
    assert sh_defined == ps_defined and len(sh_defined) == 9
    assert sh_called == ps_called  # the same steps, in the same order, in each mode

    def sftp_commands(text: str) -> list[str]:
        return re.findall(r'^\s*"?(-?(?:rm|put|get)) `?"', text, re.M)

    assert sftp_commands(sh) == sftp_commands(ps1) == ["-rm", "put", "put", "put", *["-get"] * 6]

    def manifest_keys(text: str, start: str) -> list[str]:
        body = text[text.index(start) :]
        body = body[: body.index("}\n")]
        return re.findall(r'(?:"|`")(\w+)(?:"|`"):', body)

    partner_fields = [f for f in Manifest.model_fields if f not in OUR_FIELDS]  # every field a partner's drop has
    assert manifest_keys(sh, "step_write_manifest()") == manifest_keys(ps1, "function step_write_manifest")
    assert manifest_keys(sh, "step_write_manifest()") == partner_fields
    shared = ("drop.conf", "feeds.conf", "crosswalk-recipients.txt", "crosswalk-openpgp.asc", "allowed_signers",
              "received", "receipts", "crosswalk-manifest", "crosswalk-receipt",
              "StrictHostKeyChecking=yes")  # fmt: skip
    for name in shared:
        assert name in sh and name in ps1, name
    settings = set(re.findall(r"conf (\w+)\)", sh))
    assert settings == set(re.findall(r"conf '(\w+)'", ps1)) and len(settings) == 11


def test_the_script_is_posix_sh(pack):
    pack_dir, _ = pack
    for shell in ("dash", "bash"):
        if Path(f"/bin/{shell}").exists():
            subprocess.run([shell, "-n", str(pack_dir / "drop.sh")], check=True)
