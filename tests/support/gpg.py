"""A party with its own GnuPG home and key pair, using gpg directly as a partner would."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path


class Party:
    def __init__(self, base: Path, name: str) -> None:
        self.name = name
        # A short home: gpg-agent's socket lives in it, and a Unix socket's path may not pass 107 bytes (a
        # test's own directory, under parallel workers, does). ``base`` is kept for callers' symmetry.
        self.home = Path(tempfile.mkdtemp(prefix=f"gpg-{name[:12]}-", dir="/tmp"))
        self.gpg("--quick-gen-key", f"{name} <{name}@example.invalid>", "future-default", "default", "never")
        self.public = self.gpg("--armor", "--export").stdout.decode()
        self.secret = self.gpg("--armor", "--export-secret-keys").stdout.decode()

    @property
    def email(self) -> str:
        return f"{self.name}@example.invalid"

    def gpg(self, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                "gpg",
                "--homedir",
                str(self.home),
                "--batch",
                "--yes",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
                "--trust-model",
                "always",
                *args,
            ],
            input=input,
            capture_output=True,
            check=True,
        )

    def import_key(self, armored: str) -> None:
        self.gpg("--import", input=armored.encode())

    def close(self) -> None:
        subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "all"], capture_output=True, check=False)
        shutil.rmtree(self.home, ignore_errors=True)
