"""A partner organisation: its SFTP area and pinned host keys, its encryption keys, its signing keys."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from crosswalk.config.models.base import ConfigModel, Slug
from crosswalk.transfer.hostkeys import parse_host_key


class SftpPaths(ConfigModel):
    """Folders in the partner's SFTP area, as seen after login (chrooted)."""

    inbox: str = Field(description="Where we deliver files for the partner.")
    outbox: str = Field(description="Where the partner drops files for us. Read only to us.")
    quarantine: str = Field(description="Where rejected drops are copied with a reason file.")

    @field_validator("inbox", "outbox", "quarantine")
    @classmethod
    def _absolute(cls, v: str) -> str:
        if not v.startswith("/") or ".." in v.split("/"):
            raise ValueError("must be an absolute path without '..'")
        return v.rstrip("/") or "/"


class SftpEndpoint(ConfigModel):
    conn_id: str = Field(description="Airflow connection id holding host, port, user and credentials.")
    host_keys: list[str] = Field(min_length=1, description="Pinned host public keys (OpenSSH format).")
    paths: SftpPaths
    max_sessions: int = Field(
        default=4,
        ge=1,
        le=64,
        description="At most this many of our tasks hold an SFTP session to this partner at once, across every"
        " DAG and worker (the Airflow pool crosswalk_sftp_<partner>; `crosswalk pools` writes them all).",
    )
    transfer_attempts: int = Field(
        default=4,
        ge=1,
        le=10,
        description="Connection attempts per file inside one task attempt (1, 2, 4 ... s apart) before the task"
        " fails and Airflow's retries take over: at most (retries + 1) x transfer_attempts per file.",
    )

    @field_validator("host_keys")
    @classmethod
    def _valid_keys(cls, keys: list[str]) -> list[str]:
        for i, key in enumerate(keys):
            try:
                parse_host_key(key)
            except ValueError as exc:
                raise ValueError(f"host key {i + 1}: {exc}") from exc
        return keys


def _check_age_recipient(v: str) -> str:
    from crosswalk.crypto.age import parse_recipient

    parse_recipient(v)
    return v


class DatedKey(ConfigModel):
    """A public key with an optional validity window, so keys can be rotated without a gap."""

    key: Annotated[str, AfterValidator(_check_age_recipient)]
    valid_from: date | None = None
    valid_until: date | None = None

    def current(self, today: date) -> bool:
        return (self.valid_from is None or self.valid_from <= today) and (
            self.valid_until is None or today <= self.valid_until
        )


_PGP_PUBLIC = "-----BEGIN PGP PUBLIC KEY BLOCK-----"


class Encryption(ConfigModel):
    """How payloads to and from this partner are encrypted.

    ``age`` (the default for flows where we provide the tooling) or ``openpgp`` for partners who
    already exchange files with GnuPG. Either way the manifest carries an SSH signature.
    """

    method: Literal["age", "openpgp"] = Field(description="'age' (age v1, X25519) or 'openpgp' (GnuPG).")
    recipients: list[DatedKey] = Field(default=[], description="age: the partner's age recipients (age1…).")
    openpgp_keys: list[str] = Field(
        default=[],
        description="openpgp: the partner's ASCII-armored public keys; we encrypt to them and require their "
        "signature on what the partner sends.",
    )

    @model_validator(mode="after")
    def _keys_for_method(self) -> Encryption:
        if self.method == "age" and not self.recipients:
            raise ValueError("method 'age' needs at least one entry in 'recipients'")
        if self.method == "openpgp":
            if not self.openpgp_keys:
                raise ValueError("method 'openpgp' needs at least one key in 'openpgp_keys'")
            if any(not k.lstrip().startswith(_PGP_PUBLIC) for k in self.openpgp_keys):
                raise ValueError(f"every 'openpgp_keys' entry must be an ASCII-armored public key ({_PGP_PUBLIC})")
        return self

    def current_recipients(self, today: date) -> list[str]:
        return [k.key for k in self.recipients if k.current(today)]


SIGNING_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")


def _check_signing_key(line: str) -> str:
    key_type, _ = parse_host_key(line)  # the whole key, checked (a line cut short fails)
    if key_type not in SIGNING_KEY_TYPES:
        raise ValueError(
            f"a signing key is one of {', '.join(SIGNING_KEY_TYPES)}, as in a .pub file (ssh-keygen -t ed25519 makes"
            " the best); not {key_type!r}"
        )
    return line


class Partner(ConfigModel):
    """An organisation we exchange files with."""

    code: Slug
    name: str
    kind: Literal["council", "health_board", "open_data_portal", "other"]
    sftp: SftpEndpoint
    encryption: Encryption
    signing_keys: list[Annotated[str, AfterValidator(_check_signing_key)]] = Field(
        min_length=1,
        description="Pinned public keys (Ed25519, RSA of 2048 bits or more, or ECDSA) whose SSH signatures we accept "
        "on this partner's manifests. The key the partner logs in to SFTP with can serve here too.",
    )

    @property
    def sftp_pool(self) -> str:
        """The Airflow pool that caps our SFTP sessions to this partner (``sftp.max_sessions`` slots)."""
        return f"crosswalk_sftp_{self.code.replace('-', '_')}"
