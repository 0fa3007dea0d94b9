"""OpenPGP for partners who already exchange files with GnuPG (HMRC, the UK Data Archive, …).

Drives the ``gpg`` binary (Debian's ``gnupg``): the reference implementation partners run, and a
separate process that streams file to file, so memory stays flat. Each operation gets its own
throwaway keyring (a 0700 temporary GNUPGHOME, removed afterwards, agent stopped) holding only
the keys passed in: nothing depends on, or leaks into, a user's keyring.

- Compression is off (``--compress-algo none``): default compression costs ~8x on data that
  does not compress, and compressing before encrypting buys nothing for CSV that is then hashed.
- We sign what we encrypt, and require a valid signature by a pinned key on what we decrypt.
- Output goes to ``<dst>.part`` and is renamed into place only on success; on any failure it
  is deleted, so no partial plaintext is left on disk.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from crosswalk import workroot
from crosswalk.atomic import replacing
from crosswalk.children import die_with_parent
from crosswalk.errors import DecryptFailed, SignatureInvalid, UnknownSigner

GPG = shutil.which("gpg") or "/usr/bin/gpg"


# A partner's gpg may compress before it encrypts (its default): deflate, the ZIP and ZLIB algorithms, expands at
# most 1032-fold, so no honest OpenPGP drop decrypts to more than this many times its size. A bzip2 drop that
# claims more is refused as out of range.
MAX_EXPANSION = 1032


def max_plaintext(ciphertext_size: int) -> int:
    return ciphertext_size * MAX_EXPANSION


def looks_encrypted(head: bytes) -> bool:
    """The file opens with an OpenPGP public-key encrypted session key packet (tag 1): an encrypted message."""
    if not head or not head[0] & 0x80:
        return False
    tag = head[0] & 0x3F if head[0] & 0x40 else (head[0] >> 2) & 0x0F
    return tag == 1


class GpgError(DecryptFailed):
    """gpg refused: tampering, truncation, a wrong key, or a malformed file."""


@contextlib.contextmanager
def _keyring(*armored_keys: str) -> Iterator[tuple[Path, list[str]]]:
    """A private keyring holding only ``armored_keys``; yields its home and their fingerprints, in order.
    Secret keys rest only in the swept work root, for the operation's length."""
    with workroot.task_dir("gnupg") as home:
        try:
            fingerprints = []
            for key in armored_keys:
                before = set(_fingerprints(home))
                _gpg(home, ["--import"], input=key.encode())
                fingerprints += [f for f in _fingerprints(home) if f not in before]
            yield home, fingerprints
        finally:  # the agent holds keys in memory: stopped before its home goes
            subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True, check=False)


def _gpg_command(home: Path, args: list[str], status_fd: int = 1) -> list[str]:
    return [
        GPG,
        "--homedir",
        str(home),
        "--batch",
        "--yes",
        "--no-tty",
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "",
        "--trust-model",
        "always",
        "--status-fd",
        str(status_fd),
        *args,
    ]


def _gpg(home: Path, args: list[str], input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(_gpg_command(home, args), input=input, capture_output=True, check=False)


def _fingerprints(home: Path) -> list[str]:
    out = _gpg(home, ["--with-colons", "--list-keys"]).stdout.decode()
    lines = out.splitlines()
    # The 'fpr' record right after each 'pub' record is the primary key's fingerprint.
    return [lines[i + 1].split(":")[9] for i, ln in enumerate(lines[:-1]) if ln.startswith("pub:")]


def _status(proc: subprocess.CompletedProcess) -> list[list[str]]:
    return [ln.split()[1:] for ln in proc.stdout.decode(errors="replace").splitlines() if ln.startswith("[GNUPG:] ")]


def fingerprints(*armored_keys: str) -> list[str]:
    """The primary-key fingerprints of armored keys, in order (what a manifest records as recipients)."""
    with _keyring(*armored_keys) as (_, fprs):
        return fprs


def public_key(secret_armored: str) -> str:
    """The ASCII-armored public key of an armored secret key (what a partner encrypts to)."""
    with _keyring(secret_armored) as (home, fprs):
        proc = _gpg(home, ["--armor", "--export", *fprs])
    # Status lines share standard output with the key: the armored block alone.
    block = re.search(
        rb"-----BEGIN PGP PUBLIC KEY BLOCK-----.*?-----END PGP PUBLIC KEY BLOCK-----\n",
        proc.stdout,
        re.S,
    )
    if proc.returncode != 0 or block is None:
        raise GpgError("gpg could not export the public key")
    return block.group(0).decode("ascii")


def encrypt_file(src: Path, dst: Path, recipient_keys: list[str], signing_key: str) -> None:
    """Sign with ``signing_key`` (armored secret key) and encrypt to every armored public key."""
    with src.open("rb") as f:
        encrypt(f, dst, recipient_keys, signing_key)


def encrypt(src: IO[bytes], dst: Path, recipient_keys: list[str], signing_key: str, chunk: int = 1 << 20) -> None:
    """Sign and encrypt what ``src`` yields into ``dst`` (written whole, by rename), streamed through gpg's
    standard input: the plaintext is never a file."""
    with _keyring(signing_key, *recipient_keys) as (home, fprs), replacing(dst) as part:
        signer, recipients = fprs[0], fprs[1:]
        args = ["--compress-algo", "none", "--local-user", signer, "--output", str(part)]
        for r in recipients:
            args += ["--recipient", r]
        proc = subprocess.Popen(
            _gpg_command(home, [*args, "--sign", "--encrypt"]),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        assert proc.stdin is not None
        try:
            with proc.stdin:
                while block := src.read(chunk):
                    proc.stdin.write(block)
        except BrokenPipeError:
            pass  # gpg stopped reading: its exit code says why
        finally:
            code = proc.wait()
        if code != 0:
            raise GpgError(f"gpg could not encrypt {dst.name} (exit {code})")


def _decrypt_bounded(
    home: Path, src: Path, part: Path, limit: int | None, too_large: Callable[[], Exception] | None
) -> subprocess.CompletedProcess:
    """Run gpg --decrypt with the plaintext on a pipe we read, written to ``part`` until it passes ``limit``
    bytes, when gpg is killed and ``too_large()`` raised (gpg's status goes to another pipe)."""
    status_r, status_w = os.pipe()
    proc = subprocess.Popen(
        _gpg_command(home, ["--output", "-", "--decrypt", str(src)], status_fd=status_w),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        pass_fds=(status_w,),
        preexec_fn=die_with_parent,
    )
    os.close(status_w)
    status: list[bytes] = []
    reader = threading.Thread(target=lambda: status.append(_read_all(status_r)), daemon=True)
    reader.start()
    assert proc.stdout is not None
    try:
        with proc.stdout, os.fdopen(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
            written = 0
            while block := proc.stdout.read(1 << 20):
                written += len(block)
                if limit is not None and written > limit:
                    raise too_large() if too_large else GpgError(f"{src.name}: plaintext over {limit} bytes")
                out.write(block)
    except BaseException:
        proc.kill()
        raise
    finally:
        code = proc.wait()
        reader.join()
    return subprocess.CompletedProcess(proc.args, code, b"".join(status), b"")


def _read_all(fd: int) -> bytes:
    with os.fdopen(fd, "rb") as f:
        return f.read()


def decrypt_file(
    src: Path,
    dst: Path,
    secret_keys: list[str],
    signer_keys: list[str],
    *,
    limit: int | None = None,
    too_large: Callable[[], Exception] | None = None,
) -> str:
    """Decrypt with any of ``secret_keys``; require a valid signature by one of ``signer_keys``.

    Returns the signer's fingerprint. Raises :class:`GpgError` or :class:`UnknownSigner`. With ``limit``,
    decryption stops (raising ``too_large()``) as soon as the plaintext would pass ``limit`` bytes.
    """
    with _keyring(*signer_keys) as (_, pinned):
        pass  # fingerprints of the pinned signers, computed in isolation
    with _keyring(*secret_keys, *signer_keys) as (home, _), replacing(dst, private=True) as part:
        proc = _decrypt_bounded(home, src, part, limit, too_large)
        status = _status(proc)
        codes = {s[0] for s in status if s}
        if "DECRYPTION_OKAY" not in codes or "DECRYPTION_FAILED" in codes:
            why = "no key of ours can open it" if "NO_SECKEY" in codes else "altered, truncated or malformed"
            raise GpgError(f"{src.name}: OpenPGP decryption failed ({why})")
        if "BADSIG" in codes:
            raise SignatureInvalid(f"{src.name}: OpenPGP signature does not match the content")
        valid = [s[1] for s in status if s and s[0] == "VALIDSIG"]
        primary = [s[-1] for s in status if s and s[0] == "VALIDSIG" and len(s) >= 10]
        signer = next((f for f in valid + primary if f in pinned), None)
        if signer is None:
            raise UnknownSigner(f"{src.name}: not signed by a pinned OpenPGP key of the sender")
        if proc.returncode != 0:
            raise GpgError(f"{src.name}: gpg reported a problem (exit {proc.returncode})")
        return signer
