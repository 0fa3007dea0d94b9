"""A party with its own GnuPG home and key pair, using gpg directly as a partner would."""

from __future__ import annotations

import subprocess
from pathlib import Path


class Party:
    def __init__(self, base: Path, name: str) -> None:
        self.name = name
        self.home = base / f"gnupg-{name}"
        self.home.mkdir(mode=0o700)
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
