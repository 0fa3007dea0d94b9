"""The age v1 file format (https://age-encryption.org/v1) with X25519 recipients.

Built on ``cryptography`` primitives; interoperates both ways with the ``age`` command-line
tool. Streams with constant memory: 64 KiB chunks of ChaCha20-Poly1305 in age's STREAM
construction. Stream functions work on file objects; path functions are thin wrappers that
never leave a partial output behind.

Errors are specific (:class:`AgeHeaderError`, :class:`NoIdentityMatched`,
:class:`HeaderMacMismatch`, :class:`PayloadError`) and all are
:class:`~crosswalk.errors.DecryptFailed`, so an inbound drop that fails is quarantined.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from crosswalk.atomic import replacing
from crosswalk.crypto import bech32
from crosswalk.errors import DecryptFailed
from crosswalk.hashing import BackgroundHasher, BoundedWriter, Digest, TeeReader, TeeWriter

VERSION_LINE = b"age-encryption.org/v1"
X25519_LABEL = b"age-encryption.org/v1/X25519"
CHUNK = 64 * 1024
TAG = 16
MAX_HEADER = 64 * 1024
_RECIPIENT_HRP = "age"
_IDENTITY_HRP = "age-secret-key-"


class AgeHeaderError(DecryptFailed):
    """The header is malformed or not age v1."""


class NoIdentityMatched(DecryptFailed):
    """None of our identities can open any recipient stanza."""


class HeaderMacMismatch(DecryptFailed):
    """The header was altered after encryption."""


class PayloadError(DecryptFailed):
    """A payload chunk failed authentication: altered, truncated or extended."""


# --- keys -----------------------------------------------------------------------------------


def _raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Identity:
    """An X25519 identity (private key). ``str()`` is never the secret: use :meth:`secret`."""

    _key: X25519PrivateKey

    @classmethod
    def generate(cls) -> Identity:
        return cls(X25519PrivateKey.generate())

    @classmethod
    def parse(cls, text: str) -> Identity:
        return cls(
            X25519PrivateKey.from_private_bytes(_decode_key(text, _IDENTITY_HRP, "identity (AGE-SECRET-KEY-1…)"))
        )

    def secret(self) -> str:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        raw = self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return bech32.encode(_IDENTITY_HRP, raw).upper()

    @property
    def recipient(self) -> str:
        return bech32.encode(_RECIPIENT_HRP, _raw_public(self._key.public_key()))

    def __repr__(self) -> str:
        return f"Identity(recipient={self.recipient})"


def parse_recipient(text: str) -> X25519PublicKey:
    return X25519PublicKey.from_public_bytes(_decode_key(text, _RECIPIENT_HRP, "recipient (age1…)"))


def _decode_key(text: str, hrp: str, what: str) -> bytes:
    """The 32 raw key bytes of a Bech32 age key with the expected prefix; ValueError otherwise."""
    try:
        found, raw = bech32.decode(text.strip())
    except ValueError as exc:
        raise ValueError(f"not an age {what}: {exc}") from exc
    if found != hrp or len(raw) != 32:
        raise ValueError(f"not an age X25519 {what}")
    return raw


def parse_identities(text: str) -> list[Identity]:
    """Identities from an age identity file (comments and blank lines ignored)."""
    out = [Identity.parse(line) for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not out:
        raise ValueError("no identities found")
    return out


def identity_file_text(identity: Identity) -> str:
    """What ``age-keygen`` writes, so partners' tools read our keys and ours read theirs."""
    created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return f"# created: {created}\n# public key: {identity.recipient}\n{identity.secret()}\n"


# --- header ---------------------------------------------------------------------------------


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def _unb64(text: bytes) -> bytes:
    """Strict, canonical, unpadded base64 as the spec requires."""
    if b"=" in text or b"\r" in text or b"\n" in text:
        raise AgeHeaderError("header: padded or malformed base64")
    try:
        raw = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except binascii.Error as exc:
        raise AgeHeaderError("header: malformed base64") from exc
    if _b64(raw) != text:
        raise AgeHeaderError("header: non-canonical base64")
    return raw


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def _wrap_body(body: bytes) -> bytes:
    """Stanza body: base64 in lines of 64 columns, the last one always shorter (maybe empty)."""
    text = _b64(body)
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    if not lines or len(lines[-1]) == 64:
        lines.append(b"")
    return b"\n".join(lines) + b"\n"


@dataclass(frozen=True)
class Stanza:
    type: bytes
    args: list[bytes]
    body: bytes


def _x25519_stanza(file_key: bytes, recipient: X25519PublicKey) -> bytes:
    ephemeral = X25519PrivateKey.generate()
    share = _raw_public(ephemeral.public_key())
    shared = ephemeral.exchange(recipient)
    wrap_key = _hkdf(shared, share + _raw_public(recipient), X25519_LABEL)
    body = ChaCha20Poly1305(wrap_key).encrypt(b"\x00" * 12, file_key, None)
    return b"-> X25519 " + _b64(share) + b"\n" + _wrap_body(body)


def _read_line(src: IO[bytes], budget: list[int]) -> bytes:
    line = src.readline(budget[0] + 1)
    budget[0] -= len(line)
    if budget[0] < 0:
        raise AgeHeaderError(f"header: longer than {MAX_HEADER} bytes")
    if not line.endswith(b"\n"):
        raise AgeHeaderError("header: truncated")
    return line[:-1]


def _read_header(src: IO[bytes]) -> tuple[list[Stanza], bytes, bytes]:
    """Return the stanzas, the bytes the MAC covers, and the MAC."""
    budget = [MAX_HEADER]
    first = _read_line(src, budget)
    if first.startswith(b"-----BEGIN AGE ENCRYPTED FILE-----"):
        raise AgeHeaderError("header: ASCII-armored age files are not accepted; send the binary form")
    if first != VERSION_LINE:
        raise AgeHeaderError("header: not an age v1 file")
    covered = [first]
    stanzas = []
    while True:
        line = _read_line(src, budget)
        if line.startswith(b"--- "):
            covered.append(b"---")
            return stanzas, b"\n".join(covered), _unb64(line[4:])
        if not line.startswith(b"-> "):
            raise AgeHeaderError("header: expected a stanza or the MAC line")
        covered.append(line)
        parts = line[3:].split(b" ")
        if not parts or any(not p for p in parts):
            raise AgeHeaderError("header: empty stanza argument")
        body_lines = []
        while True:
            bl = _read_line(src, budget)
            covered.append(bl)
            if len(bl) > 64:
                raise AgeHeaderError("header: stanza body line longer than 64 columns")
            body_lines.append(bl)
            if len(bl) < 64:
                break
        stanzas.append(Stanza(parts[0], parts[1:], _unb64(b"".join(body_lines))))


def _unwrap(stanzas: list[Stanza], identities: Iterable[Identity]) -> bytes:
    x_stanzas = [s for s in stanzas if s.type == b"X25519"]
    for s in x_stanzas:
        if len(s.args) != 1:
            raise AgeHeaderError("header: X25519 stanza needs exactly one argument")
        share = _unb64(s.args[0])
        if len(share) != 32 or len(s.body) != 32:
            raise AgeHeaderError("header: X25519 stanza of the wrong size")
    for ident in identities:
        ours = _raw_public(ident._key.public_key())
        for s in x_stanzas:
            share = _unb64(s.args[0])
            shared = ident._key.exchange(X25519PublicKey.from_public_bytes(share))
            if shared == b"\x00" * 32:
                raise AgeHeaderError("header: low-order X25519 share")
            wrap_key = _hkdf(shared, share + ours, X25519_LABEL)
            try:
                return ChaCha20Poly1305(wrap_key).decrypt(b"\x00" * 12, s.body, None)
            except InvalidTag:
                continue
    raise NoIdentityMatched("none of our current age identities can open this file")


# Each payload chunk (at most 64 KiB of plaintext) carries a 16-byte tag, after a 16-byte nonce and a header:
# a file's plaintext is always shorter than the file.
def max_plaintext(ciphertext_size: int) -> int:
    return max(ciphertext_size - 16, 0)


# --- payload --------------------------------------------------------------------------------


def _nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def encrypt(src: IO[bytes], dst: IO[bytes], recipients: Iterable[str]) -> int:
    """Encrypt ``src`` to every recipient (``age1…``); return the plaintext size."""
    keys = [parse_recipient(r) for r in recipients]
    if not keys:
        raise ValueError("at least one recipient is needed")
    file_key = os.urandom(16)
    header = VERSION_LINE + b"\n" + b"".join(_x25519_stanza(file_key, k) for k in keys) + b"---"
    mac = hmac.new(_hkdf(file_key, b"", b"header"), header, sha256).digest()
    dst.write(header + b" " + _b64(mac) + b"\n")
    nonce = os.urandom(16)
    dst.write(nonce)
    aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
    size, counter = 0, 0
    chunk = src.read(CHUNK)
    while True:
        nxt = src.read(CHUNK) if len(chunk) == CHUNK else b""
        last = not nxt
        dst.write(aead.encrypt(_nonce(counter, last), chunk, None))
        size += len(chunk)
        if last:
            return size
        chunk, counter = nxt, counter + 1


def decrypt(src: IO[bytes], dst: IO[bytes], identities: Iterable[Identity]) -> int:
    """Decrypt ``src`` into ``dst``; return the plaintext size. Raise :class:`DecryptFailed` subclasses.

    Plaintext is written chunk by chunk after each chunk authenticates. A later failure can
    leave authenticated earlier chunks in ``dst``: callers that must not keep partial output use
    :func:`decrypt_file`, which deletes it.
    """
    stanzas, covered, mac = _read_header(src)
    file_key = _unwrap(stanzas, identities)
    expected = hmac.new(_hkdf(file_key, b"", b"header"), covered, sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise HeaderMacMismatch("header MAC does not match: the header was altered")
    nonce = src.read(16)
    if len(nonce) != 16:
        raise PayloadError("payload: truncated before the nonce")
    aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
    size, counter = 0, 0
    chunk = src.read(CHUNK + TAG)
    while True:
        nxt = src.read(CHUNK + TAG) if len(chunk) == CHUNK + TAG else b""
        last = not nxt
        if len(chunk) < TAG:
            raise PayloadError(f"payload: chunk {counter} is truncated")
        try:
            plain = aead.decrypt(_nonce(counter, last), chunk, None)
        except InvalidTag as exc:
            where = "last chunk" if last else f"chunk {counter}"
            raise PayloadError(f"payload: {where} failed authentication (altered or truncated)") from exc
        if last and not plain and counter > 0:
            raise PayloadError("payload: empty final chunk after data")
        dst.write(plain)
        size += len(plain)
        if last:
            return size
        chunk, counter = nxt, counter + 1


def encrypt_file(
    src: Path, dst: Path, recipients: Iterable[str], *, hash_ciphertext: bool = True
) -> tuple[Digest, Digest | None]:
    """Encrypt ``src`` to ``dst``; return the sha256 and size of the plaintext and of the ciphertext.

    Both are hashed on another core during the same pass, so a manifest needs no extra read.
    ``hash_ciphertext=False`` leaves the ciphertext's hash to the caller (which can compute it while
    the file uploads, off the critical path) and returns None for it.
    """

    def run(out: IO[bytes]) -> tuple[Digest, Digest | None]:
        with src.open("rb") as f:
            reader = TeeReader(f, BackgroundHasher())
            writer = TeeWriter(out, BackgroundHasher()) if hash_ciphertext else out
            encrypt(reader, writer, recipients)
            return reader.hasher.digest(), writer.hasher.digest() if hash_ciphertext else None

    return _atomic(dst, run)


def decrypt_file(
    src: Path,
    dst: Path,
    identities: Iterable[Identity],
    *,
    limit: int | None = None,
    too_large: Callable[[], Exception] | None = None,
) -> Digest:
    """Decrypt to ``dst`` via a private temporary file; on any failure nothing is left behind.

    Returns the plaintext's sha256 and size, hashed on another core as it is written. With ``limit``,
    decryption stops (raising ``too_large()``) as soon as the plaintext would pass ``limit`` bytes.
    """

    def run(out: IO[bytes]) -> Digest:
        if limit is not None:
            out = BoundedWriter(out, limit, too_large or (lambda: PayloadError(f"plaintext over {limit} bytes")))
        writer = TeeWriter(out, BackgroundHasher())
        try:
            _with_input(src, lambda f: decrypt(f, writer, identities))
        finally:
            digest = writer.hasher.digest()  # also stops the hashing thread when decryption fails
        return digest

    return _atomic(dst, run)


def _with_input(path: Path, fn):
    with path.open("rb") as f:
        return fn(f)


def _atomic(dst: Path, write):
    with replacing(dst, private=True) as part, part.open("wb") as out:
        return write(out)
