"""OpenPGP via GnuPG: interoperates both ways with plain gpg; tampering and unknown signers refused."""

from __future__ import annotations

import os
import shutil

import pytest

from crosswalk.crypto import openpgp
from crosswalk.errors import UnknownSigner
from tests.support.env import require
from tests.support.gpg import Party


@pytest.fixture(scope="module")
def gpg():
    require(None if shutil.which("gpg") else "GnuPG is not installed (apt-get install gnupg)")


@pytest.fixture
def parties(tmp_path, gpg):
    us, partner, stranger = Party(tmp_path, "crosswalk"), Party(tmp_path, "partner"), Party(tmp_path, "stranger")
    yield us, partner, stranger
    for p in (us, partner, stranger):
        p.close()


def test_ours_decrypts_and_verifies_with_plain_gpg(tmp_path, parties):
    us, partner, _ = parties
    data = os.urandom(200_000)
    (tmp_path / "plain").write_bytes(data)
    openpgp.encrypt_file(tmp_path / "plain", tmp_path / "ct.gpg", [partner.public], us.secret)
    partner.import_key(us.public)
    out = partner.gpg(
        "--status-fd",
        "1",
        "--trust-model",
        "always",
        "--output",
        str(tmp_path / "back"),
        "--decrypt",
        str(tmp_path / "ct.gpg"),
    )
    assert (tmp_path / "back").read_bytes() == data
    assert b"[GNUPG:] GOODSIG" in out.stdout  # gpg --verify semantics: signed by us
    assert b"COMPRESSION" not in out.stdout or b"PLAINTEXT" in out.stdout


def test_plain_gpg_sign_and_encrypt_decrypts_with_ours(tmp_path, parties):
    us, partner, _ = parties
    data = b"source_id,chi_number\nMOS1,0101011237\n" * 1000
    (tmp_path / "plain").write_bytes(data)
    partner.import_key(us.public)
    partner.gpg(
        "--trust-model",
        "always",
        "--compress-algo",
        "none",
        "--recipient",
        "crosswalk@example.invalid",
        "--sign",
        "--encrypt",
        "--output",
        str(tmp_path / "ct.gpg"),
        str(tmp_path / "plain"),
    )
    signer = openpgp.decrypt_file(tmp_path / "ct.gpg", tmp_path / "out", [us.secret], [partner.public])
    assert (tmp_path / "out").read_bytes() == data and len(signer) == 40


def test_tampered_ciphertext_fails_and_leaves_nothing(tmp_path, parties):
    us, partner, _ = parties
    (tmp_path / "plain").write_bytes(os.urandom(100_000))
    openpgp.encrypt_file(tmp_path / "plain", tmp_path / "ct.gpg", [us.public], partner.secret)
    raw = bytearray((tmp_path / "ct.gpg").read_bytes())
    raw[len(raw) // 2] ^= 1
    (tmp_path / "ct.gpg").write_bytes(bytes(raw))
    with pytest.raises(openpgp.GpgError, match="altered, truncated or malformed"):
        openpgp.decrypt_file(tmp_path / "ct.gpg", tmp_path / "out", [us.secret], [partner.public])
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.part").exists()


def test_signature_by_an_unpinned_key_is_refused(tmp_path, parties):
    us, partner, stranger = parties
    (tmp_path / "plain").write_bytes(b"x" * 1000)
    openpgp.encrypt_file(tmp_path / "plain", tmp_path / "ct.gpg", [us.public], stranger.secret)
    with pytest.raises(UnknownSigner, match="not signed by a pinned"):
        openpgp.decrypt_file(tmp_path / "ct.gpg", tmp_path / "out", [us.secret], [partner.public])
    assert not (tmp_path / "out").exists()
