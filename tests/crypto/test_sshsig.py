"""SSH signatures: ours verify with `ssh-keygen -Y verify`, its signatures verify with ours."""

from __future__ import annotations

import io
import subprocess

import pytest

from crosswalk.crypto import sshsig
from crosswalk.errors import SignatureInvalid, UnknownSigner
from tests.conftest import REPO

MANIFEST = b'{"feed": "council-clients", "sha256": "00"}\n'


def _keypair(path, comment="partner"):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True)
    return sshsig.load_private_key(path.read_bytes()), path.with_suffix(".pub").read_text().strip()


def test_ours_verifies_with_ssh_keygen(tmp_path):
    key, pub = _keypair(tmp_path / "k")
    (tmp_path / "m").write_bytes(MANIFEST)
    (tmp_path / "m.sig").write_text(sshsig.sign(io.BytesIO(MANIFEST), key))
    (tmp_path / "allowed").write_text(f'partner namespaces="crosswalk-manifest" {pub}\n')
    out = subprocess.run(
        [
            "ssh-keygen",
            "-Y",
            "verify",
            "-f",
            str(tmp_path / "allowed"),
            "-I",
            "partner",
            "-n",
            "crosswalk-manifest",
            "-s",
            str(tmp_path / "m.sig"),
        ],
        input=MANIFEST,
        capture_output=True,
    )
    assert out.returncode == 0 and b'Good "crosswalk-manifest" signature for partner' in out.stdout


def test_ssh_keygen_signature_verifies_with_ours(tmp_path):
    _, pub = _keypair(tmp_path / "k")
    (tmp_path / "m").write_bytes(MANIFEST)
    subprocess.run(
        ["ssh-keygen", "-Y", "sign", "-f", str(tmp_path / "k"), "-n", "crosswalk-manifest", str(tmp_path / "m")],
        check=True,
        capture_output=True,
    )
    fp = sshsig.verify(io.BytesIO(MANIFEST), (tmp_path / "m.sig").read_text(), [pub])
    assert fp == sshsig.fingerprint(pub)


def test_altered_file_unpinned_key_and_other_namespace_are_refused(tmp_path):
    key, pub = _keypair(tmp_path / "k")
    _, other_pub = _keypair(tmp_path / "o", "someone-else")
    sig = sshsig.sign(io.BytesIO(MANIFEST), key)
    with pytest.raises(SignatureInvalid, match="does not match"):
        sshsig.verify(io.BytesIO(MANIFEST.replace(b"00", b"01")), sig, [pub])
    with pytest.raises(UnknownSigner, match="not pinned"):
        sshsig.verify(io.BytesIO(MANIFEST), sig, [other_pub])
    with pytest.raises(SignatureInvalid, match="namespace 'file'"):
        sshsig.verify(io.BytesIO(MANIFEST), sshsig.sign(io.BytesIO(MANIFEST), key, "file"), [pub])
    with pytest.raises(SignatureInvalid, match="not an armored"):
        sshsig.verify(io.BytesIO(MANIFEST), "garbage", [pub])


def test_cli_sign_and_verify(tmp_path):
    cli = str(REPO / ".venv" / "bin" / "crosswalk")
    _, pub = _keypair(tmp_path / "k")
    (tmp_path / "m").write_bytes(MANIFEST)
    subprocess.run([cli, "sign", "-k", str(tmp_path / "k"), str(tmp_path / "m")], check=True, capture_output=True)
    ok = subprocess.run([cli, "verify", "--allowed-key", pub, str(tmp_path / "m")], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.startswith("Good 'crosswalk-manifest' signature")
    (tmp_path / "m").write_bytes(MANIFEST + b" ")
    bad = subprocess.run([cli, "verify", "--allowed-key", pub, str(tmp_path / "m")], capture_output=True, text=True)
    assert bad.returncode == 1 and "BAD" in bad.stderr


@pytest.mark.parametrize(
    "kind", [("rsa", "3072"), ("ecdsa", "256"), ("ecdsa", "384"), ("ecdsa", "521")], ids=lambda k: "-".join(k)
)
def test_a_partners_rsa_or_ecdsa_login_key_signs_and_verifies_with_ours(tmp_path, kind):
    """Many small organisations already log in with an RSA key: ssh-keygen -Y sign with it, verified by ours."""
    key_type, bits = kind
    key = tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", key_type, "-b", bits, "-N", "", "-f", str(key)], check=True)
    (tmp_path / "m").write_bytes(b'{"rows": 3}\n')
    sign = ["ssh-keygen", "-Y", "sign", "-f", str(key), "-n", "crosswalk-manifest", str(tmp_path / "m")]
    subprocess.run(sign, check=True, capture_output=True)
    pub, sig = (tmp_path / "k.pub").read_text().strip(), (tmp_path / "m.sig").read_text()
    assert sshsig.verify(io.BytesIO(b'{"rows": 3}\n'), sig, [pub]) == sshsig.fingerprint(pub)
    with pytest.raises(SignatureInvalid, match="does not match"):
        sshsig.verify(io.BytesIO(b'{"rows": 4}\n'), sig, [pub])
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", key_type, "-b", bits, "-N", "", "-f", str(other)], check=True)
    with pytest.raises(UnknownSigner):
        sshsig.verify(io.BytesIO(b'{"rows": 3}\n'), sig, [(tmp_path / "other.pub").read_text().strip()])
