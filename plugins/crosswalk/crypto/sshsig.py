"""OpenSSH signatures (the SSHSIG format of ``ssh-keygen -Y sign``): we sign with Ed25519; we verify Ed25519,
RSA (rsa-sha2-256 and -512; never SHA-1) and ECDSA (NIST P-256, P-384, P-521) signatures.

A partner signs with the key it already uses to log in to SFTP, often RSA; we verify against
the keys pinned in its partner config, never against a key the signature carries alone. The
namespace binds a signature to its purpose, so a signature made for something else never
verifies as a manifest signature.

Format: https://github.com/openssh/openssh-portable/blob/master/PROTOCOL.sshsig
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from typing import IO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_ssh_private_key,
    load_ssh_public_key,
)

from crosswalk.errors import SignatureInvalid, UnknownSigner

MAGIC = b"SSHSIG"
VERSION = 1
MANIFEST_NAMESPACE = "crosswalk-manifest"
_BEGIN, _END = "-----BEGIN SSH SIGNATURE-----", "-----END SSH SIGNATURE-----"
_HASHES = {"sha512": hashlib.sha512, "sha256": hashlib.sha256}


def _string(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def _read_string(buf: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 4 > len(buf):
        raise SignatureInvalid("signature: truncated")
    (n,) = struct.unpack(">I", buf[pos : pos + 4])
    end = pos + 4 + n
    if end > len(buf):
        raise SignatureInvalid("signature: truncated")
    return buf[pos + 4 : end], end


def _ed25519_blob(key: Ed25519PublicKey) -> bytes:
    return _string(b"ssh-ed25519") + _string(key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def public_key_line(key: Ed25519PublicKey) -> str:
    return key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()


def fingerprint(key_line: str) -> str:
    """OpenSSH-style SHA256 fingerprint of a public key line, for logs and audit."""
    blob = base64.b64decode(key_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def load_private_key(pem: bytes | str, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    """An OpenSSH-format Ed25519 private key (what ``ssh-keygen -t ed25519`` writes)."""
    key = load_ssh_private_key(pem.encode() if isinstance(pem, str) else pem, passphrase)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("only Ed25519 signing keys are supported")
    return key


def _digest(message: IO[bytes], hash_alg: str) -> bytes:
    h = _HASHES[hash_alg]()
    while block := message.read(1 << 20):
        h.update(block)
    return h.digest()


def _signed_data(namespace: str, hash_alg: str, digest: bytes) -> bytes:
    return MAGIC + _string(namespace.encode()) + _string(b"") + _string(hash_alg.encode()) + _string(digest)


def sign(message: IO[bytes], key: Ed25519PrivateKey, namespace: str = MANIFEST_NAMESPACE) -> str:
    """Sign a stream; return the armored signature ``ssh-keygen -Y verify`` accepts."""
    digest = _digest(message, "sha512")
    raw_sig = key.sign(_signed_data(namespace, "sha512", digest))
    blob = (
        MAGIC
        + struct.pack(">I", VERSION)
        + _string(_ed25519_blob(key.public_key()))
        + _string(namespace.encode())
        + _string(b"")
        + _string(b"sha512")
        + _string(_string(b"ssh-ed25519") + _string(raw_sig))
    )
    text = base64.b64encode(blob).decode()
    return "\n".join([_BEGIN, *(text[i : i + 70] for i in range(0, len(text), 70)), _END]) + "\n"


_RSA_HASHES = {"rsa-sha2-512": hashes.SHA512, "rsa-sha2-256": hashes.SHA256}
_ECDSA_HASHES = {"nistp256": hashes.SHA256, "nistp384": hashes.SHA384, "nistp521": hashes.SHA512}


def _check(key, sig_type: str, raw_sig: bytes, signed: bytes) -> None:
    """Verify ``raw_sig`` over ``signed`` with ``key``, as the signature's own type says it was made (RFC 8709,
    RFC 8332, RFC 5656); a type that does not fit the key is refused, as is SHA-1 RSA (``ssh-rsa``)."""
    if isinstance(key, Ed25519PublicKey) and sig_type == "ssh-ed25519":
        key.verify(raw_sig, signed)
    elif isinstance(key, rsa.RSAPublicKey) and sig_type in _RSA_HASHES:
        key.verify(raw_sig, signed, padding.PKCS1v15(), _RSA_HASHES[sig_type]())
    elif isinstance(key, ec.EllipticCurvePublicKey) and sig_type == f"ecdsa-sha2-{_curve(key)}":
        r, p = _read_string(raw_sig, 0)
        s_, p = _read_string(raw_sig, p)
        if p != len(raw_sig):
            raise SignatureInvalid("signature: malformed ECDSA signature")
        der = utils.encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s_, "big"))
        key.verify(der, signed, ec.ECDSA(_ECDSA_HASHES[_curve(key)]()))
    else:
        raise SignatureInvalid(f"signature: a {sig_type!r} signature, which this key cannot have made or we refuse")


def _curve(key) -> str:
    return {"secp256r1": "nistp256", "secp384r1": "nistp384", "secp521r1": "nistp521"}.get(key.curve.name, "")


def verify(
    message: IO[bytes], signature: str | bytes, allowed_keys: list[str], namespace: str = MANIFEST_NAMESPACE
) -> str:
    """Verify ``signature`` over the stream; return the fingerprint of the pinned key that made it.

    Raises :class:`SignatureInvalid` for a malformed or non-matching signature, or one made for
    another namespace; :class:`UnknownSigner` when the signing key is not in ``allowed_keys``.
    """
    text = signature.decode("ascii", "replace") if isinstance(signature, bytes) else signature
    lines = [ln.strip() for ln in text.strip().splitlines()]
    if len(lines) < 3 or lines[0] != _BEGIN or lines[-1] != _END:
        raise SignatureInvalid("signature: not an armored SSH signature")
    try:
        blob = base64.b64decode("".join(lines[1:-1]), validate=True)
    except binascii.Error as exc:
        raise SignatureInvalid("signature: malformed base64") from exc
    if not blob.startswith(MAGIC) or len(blob) < 10 or struct.unpack(">I", blob[6:10])[0] != VERSION:
        raise SignatureInvalid("signature: not an SSHSIG v1 signature")
    pos = 10
    pubkey_blob, pos = _read_string(blob, pos)
    ns, pos = _read_string(blob, pos)
    _reserved, pos = _read_string(blob, pos)
    hash_alg, pos = _read_string(blob, pos)
    sig, pos = _read_string(blob, pos)
    if pos != len(blob):
        raise SignatureInvalid("signature: trailing data")
    if ns.decode(errors="replace") != namespace:
        raise SignatureInvalid(f"signature: made for namespace {ns.decode(errors='replace')!r}, not {namespace!r}")
    if hash_alg.decode(errors="replace") not in _HASHES:
        raise SignatureInvalid("signature: unsupported hash algorithm")

    pinned = {}
    for line in allowed_keys:
        parts = line.split()
        if len(parts) >= 2:
            pinned[base64.b64decode(parts[1])] = (load_ssh_public_key(line.encode()), line)
    if pubkey_blob not in pinned:
        raise UnknownSigner("signature: made by a key that is not pinned for this sender")
    key, line = pinned[pubkey_blob]

    sig_type, p = _read_string(sig, 0)
    raw_sig, p = _read_string(sig, p)
    if p != len(sig):
        raise SignatureInvalid("signature: trailing data in the signature")
    signed = _signed_data(namespace, hash_alg.decode(), _digest(message, hash_alg.decode()))
    try:
        _check(key, sig_type.decode(errors="replace"), raw_sig, signed)
    except InvalidSignature as exc:
        raise SignatureInvalid(
            "signature: does not match the signed file (altered, or signed over other data)"
        ) from exc
    return fingerprint(line)
