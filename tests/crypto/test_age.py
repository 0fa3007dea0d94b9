"""age v1: interoperability with the real `age` CLI both ways, and tamper resistance."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess

import pytest

from crosswalk.crypto import age
from crosswalk.errors import DecryptFailed
from crosswalk.hashing import file_digest
from tests.conftest import REPO
from tests.support.env import require

SIZES = [0, 1, 65535, 65536, 65537, 5 * 65536 + 7]


@pytest.fixture(scope="module")
def age_cli():
    require(None if shutil.which("age") else "the age CLI is not installed (apt-get install age)")
    return shutil.which("age")


@pytest.fixture
def keys(tmp_path):
    ours = age.Identity.generate()
    (tmp_path / "ours.key").write_text(age.identity_file_text(ours))
    subprocess.run(["age-keygen", "-o", str(tmp_path / "theirs.key")], check=True, capture_output=True)
    [theirs] = age.parse_identities((tmp_path / "theirs.key").read_text())
    return ours, theirs


@pytest.mark.parametrize("size", SIZES)
def test_ours_decrypts_with_age_cli(tmp_path, keys, age_cli, size):
    ours, theirs = keys
    data = os.urandom(size)
    (tmp_path / "plain").write_bytes(data)
    age.encrypt_file(tmp_path / "plain", tmp_path / "ct", [ours.recipient, theirs.recipient])
    out = tmp_path / "out"
    subprocess.run(
        [age_cli, "-d", "-i", str(tmp_path / "theirs.key"), "-o", str(out), str(tmp_path / "ct")], check=True
    )
    # `age -d -o FILE` writes no file at all for an empty plaintext: that is "empty", not failure.
    assert (out.read_bytes() if out.exists() else b"") == data


@pytest.mark.parametrize("size", SIZES)
def test_age_cli_output_decrypts_with_ours(tmp_path, keys, age_cli, size):
    ours, _ = keys
    data = os.urandom(size)
    (tmp_path / "plain").write_bytes(data)
    subprocess.run(
        [age_cli, "-e", "-r", ours.recipient, "-o", str(tmp_path / "ct"), str(tmp_path / "plain")], check=True
    )
    digest = age.decrypt_file(tmp_path / "ct", tmp_path / "out", [ours])
    assert digest == file_digest(tmp_path / "out") and digest.size == size
    assert (tmp_path / "out").read_bytes() == data


@pytest.mark.stress
def test_one_gib_both_ways_with_flat_memory(tmp_path, keys, age_cli):
    """1 GiB through both implementations; hashes compared, never the whole file in memory."""
    import psutil

    ours, theirs = keys
    plain = tmp_path / "plain"
    digest = hashlib.sha256()
    with plain.open("wb") as f:
        block = os.urandom(1 << 20)
        for i in range(1024):
            chunk = block[i % 251 :] + block[: i % 251]  # vary the content cheaply
            f.write(chunk)
            digest.update(chunk)
    rss_before = psutil.Process().memory_info().rss
    age.encrypt_file(plain, tmp_path / "ct1", [theirs.recipient])
    subprocess.run(
        [age_cli, "-d", "-i", str(tmp_path / "theirs.key"), "-o", str(tmp_path / "d1"), str(tmp_path / "ct1")],
        check=True,
    )
    (tmp_path / "ct1").unlink()
    assert hashlib.file_digest((tmp_path / "d1").open("rb"), "sha256").hexdigest() == digest.hexdigest()
    (tmp_path / "d1").unlink()
    subprocess.run([age_cli, "-e", "-r", ours.recipient, "-o", str(tmp_path / "ct2"), str(plain)], check=True)
    age.decrypt_file(tmp_path / "ct2", tmp_path / "d2", [ours])
    assert hashlib.file_digest((tmp_path / "d2").open("rb"), "sha256").hexdigest() == digest.hexdigest()
    assert psutil.Process().memory_info().rss - rss_before < 64 * 2**20  # streamed, not buffered


def _encrypted(ours, size=3 * 65536 + 100) -> bytes:
    buf = io.BytesIO()
    age.encrypt(io.BytesIO(os.urandom(size)), buf, [ours.recipient])
    return buf.getvalue()


def _header_len(ct: bytes) -> int:
    return ct.index(b"\n---") + ct[ct.index(b"\n---") + 1 :].index(b"\n") + 2


TAMPER = {
    # name: (how to change the ciphertext, the error class expected)
    "header version": (lambda ct: b"age-encryption.org/v2" + ct[21:], age.AgeHeaderError),
    "header stanza byte": (lambda ct: ct[:30] + bytes([ct[30] ^ 1]) + ct[31:], DecryptFailed),
    "header mac": (
        lambda ct: (
            ct[: _header_len(ct) - 3] + (b"A" if ct[_header_len(ct) - 3] != 65 else b"B") + ct[_header_len(ct) - 2 :]
        ),
        DecryptFailed,
    ),
    "nonce byte": (
        lambda ct: ct[: _header_len(ct)] + bytes([ct[_header_len(ct)] ^ 1]) + ct[_header_len(ct) + 1 :],
        age.PayloadError,
    ),
    "body byte": (lambda ct: ct[:-100000] + bytes([ct[-100000] ^ 1]) + ct[-99999:], age.PayloadError),
    "last chunk byte": (lambda ct: ct[:-5] + bytes([ct[-5] ^ 1]) + ct[-4:], age.PayloadError),
    "truncated mid chunk": (lambda ct: ct[:-50], age.PayloadError),
    "truncated at chunk boundary": (lambda ct: ct[: _header_len(ct) + 16 + 2 * (65536 + 16)], age.PayloadError),
    "appended byte": (lambda ct: ct + b"\x00", age.PayloadError),
    "truncated header": (lambda ct: ct[:40], age.AgeHeaderError),
}


@pytest.mark.parametrize("case", TAMPER)
def test_tampering_fails_specifically_and_leaves_no_plaintext(tmp_path, case):
    ours = age.Identity.generate()
    change, error = TAMPER[case]
    (tmp_path / "ct").write_bytes(change(_encrypted(ours)))
    with pytest.raises(error):
        age.decrypt_file(tmp_path / "ct", tmp_path / "out", [ours])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct"]  # no output, no temporary file


def test_wrong_identity_is_told_apart_from_tampering(tmp_path):
    ct = _encrypted(age.Identity.generate())
    with pytest.raises(age.NoIdentityMatched):
        age.decrypt(io.BytesIO(ct), io.BytesIO(), [age.Identity.generate()])


def test_any_current_identity_opens_a_file_for_several_recipients():
    a, b, c = (age.Identity.generate() for _ in range(3))
    buf = io.BytesIO()
    age.encrypt(io.BytesIO(b"rotation"), buf, [a.recipient, b.recipient])
    out = io.BytesIO()
    age.decrypt(io.BytesIO(buf.getvalue()), out, [c, b])  # c is ours but not a recipient; b is
    assert out.getvalue() == b"rotation"


def test_keys_round_trip_and_never_print_the_secret():
    ident = age.Identity.generate()
    assert age.Identity.parse(ident.secret()).recipient == ident.recipient
    assert ident.secret() not in repr(ident) and ident.recipient.startswith("age1")
    with pytest.raises(ValueError, match="not an age"):
        age.Identity.parse(ident.recipient)


def test_cli_keygen_encrypt_decrypt(tmp_path, age_cli):
    cli = str(REPO / ".venv" / "bin" / "crosswalk")
    keygen = subprocess.run([cli, "keygen", "-o", str(tmp_path / "k")], capture_output=True, text=True, check=True)
    recipient = keygen.stderr.split("Public key: ")[1].strip()
    assert oct((tmp_path / "k").stat().st_mode & 0o777) == "0o600"
    (tmp_path / "p").write_bytes(b"hello, partner\n")
    subprocess.run([cli, "encrypt", "-r", recipient, "-o", str(tmp_path / "c"), str(tmp_path / "p")], check=True)
    subprocess.run(
        [age_cli, "-d", "-i", str(tmp_path / "k"), "-o", str(tmp_path / "x"), str(tmp_path / "c")], check=True
    )
    assert (tmp_path / "x").read_bytes() == b"hello, partner\n"
    subprocess.run(
        [cli, "decrypt", "-i", str(tmp_path / "k"), "-o", str(tmp_path / "y"), str(tmp_path / "c")], check=True
    )
    assert (tmp_path / "y").read_bytes() == b"hello, partner\n"
    (tmp_path / "c").write_bytes((tmp_path / "c").read_bytes()[:-3])
    bad = subprocess.run(
        [cli, "decrypt", "-i", str(tmp_path / "k"), "-o", str(tmp_path / "z"), str(tmp_path / "c")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "failed authentication" in bad.stderr and not (tmp_path / "z").exists()
