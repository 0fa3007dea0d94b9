"""The partner's side of the drop protocol: the three files of a drop, made as a partner makes them.

A drop is the encrypted extract, its manifest (sizes, hashes, rows) and the manifest's SSH signature,
uploaded in that order (the signature last: its arrival completes the drop). Each step can run with
the standard tools a partner has (``age``, ``ssh-keygen -Y sign``) or with our own Python
implementations of the same formats (the demo, on a machine without them). The demo and the tests
play the partner through this module, so both follow one protocol; the tests put their faults
between its steps.
"""

from __future__ import annotations

import io
import subprocess
from dataclasses import dataclass
from pathlib import Path

from crosswalk.crypto import age, sshsig
from crosswalk.manifest import manifest_for_drop, manifest_name, signature_name


@dataclass(frozen=True)
class DropFiles:
    data: Path
    manifest: Path
    signature: Path

    def in_upload_order(self) -> tuple[Path, Path, Path]:
        """Data, manifest, signature: a reader that waits for the signature never sees half a drop."""
        return self.data, self.manifest, self.signature


def encrypt(plain: Path, recipient: str, *, tools: bool) -> Path:
    """``plain.age``, encrypted to ``recipient`` (``age -e`` with ``tools``)."""
    enc = plain.with_name(plain.name + ".age")
    if tools:
        subprocess.run(["age", "-e", "-r", recipient, "-o", str(enc), str(plain)], check=True)
    else:
        age.encrypt_file(plain, enc, [recipient])
    return enc


def write_manifest(
    plain: Path, enc: Path, *, feed: str, schema_id: str, sender: str, recipients: list[str], encryption: str = "age"
) -> Path:
    mpath = enc.with_name(manifest_name(enc.name))
    manifest = manifest_for_drop(
        plain, enc, feed=feed, schema_id=schema_id, sender=sender, recipients=recipients, encryption=encryption
    )
    mpath.write_bytes(manifest.to_json())
    return mpath


def sign(manifest: Path, key: Path | str, *, tools: bool) -> Path:
    """The manifest's ``.sig``, replacing any earlier one (a stale signature must never go up). ``key`` is
    the OpenSSH private key: a file (``ssh-keygen -Y sign -f`` with ``tools``) or its text."""
    spath = Path(signature_name(str(manifest)))
    spath.unlink(missing_ok=True)  # ssh-keygen asks before overwriting, and without an answer writes nothing
    if tools:
        assert isinstance(key, Path), "ssh-keygen signs with a key file"
        subprocess.run(
            ["ssh-keygen", "-q", "-Y", "sign", "-f", str(key), "-n", sshsig.MANIFEST_NAMESPACE, str(manifest)],
            check=True,
            capture_output=True,
        )
    else:
        text = key.read_bytes() if isinstance(key, Path) else key.encode()
        spath.write_text(sshsig.sign(io.BytesIO(manifest.read_bytes()), sshsig.load_private_key(text)))
    return spath


def make_drop(
    plain: Path, *, feed: str, schema_id: str, sender: str, recipient: str, signing_key: Path | str, tools: bool
) -> DropFiles:
    """Encrypt, write the manifest, sign it: the three files, ready to upload in order."""
    enc = encrypt(plain, recipient, tools=tools)
    mpath = write_manifest(plain, enc, feed=feed, schema_id=schema_id, sender=sender, recipients=[recipient])
    return DropFiles(enc, mpath, sign(mpath, signing_key, tools=tools))
