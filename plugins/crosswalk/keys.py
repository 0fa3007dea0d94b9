"""Our secret keys, read from an Airflow connection's fields (so from the secrets backend).

Age identities live in the connection's extra as ``{"identities": [{"key": "AGE-SECRET-KEY-1…",
"valid_from": "2026-01-01", "valid_until": "2027-01-31"}, …]}``, or as the UI's form stores them (type
``crosswalk_age``, :mod:`crosswalk.provider_info`): the current identity in the password with extra
``valid_until``, and during a rotation the old one in ``previous_secret_key`` with ``previous_valid_until``.
Several may be current at once during a rotation; decryption tries each.
The signing key is an OpenSSH Ed25519 private key in extra ``private_key`` (or the password).
Nothing here logs or returns a secret in text form.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crosswalk.crypto import age, sshsig
from crosswalk.errors import ConfigError


def current_identities(extra: dict[str, Any], password: str | None, today: date, conn_id: str) -> list[age.Identity]:
    entries = extra.get("identities") or _form_identities(extra, password)
    out = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or "key" not in e:
            raise ConfigError(f"connection {conn_id}", f"extra.identities[{i}]", "each entry needs a 'key'")
        try:
            start = date.fromisoformat(e["valid_from"]) if e.get("valid_from") else None
            end = date.fromisoformat(e["valid_until"]) if e.get("valid_until") else None
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"connection {conn_id}", f"extra.identities[{i}]", "dates are YYYY-MM-DD") from exc
        if (start is None or start <= today) and (end is None or today <= end):
            try:
                out.append(age.Identity.parse(e["key"]))
            except ValueError as exc:
                raise ConfigError(f"connection {conn_id}", f"extra.identities[{i}]", "not an age identity") from exc
    return out


def _form_identities(extra: dict[str, Any], password: str | None) -> list[dict[str, Any]]:
    """The identities as the Add Connection form stores them (blank fields arrive as "" or null)."""
    entries = [{"key": password, "valid_until": extra.get("valid_until")}] if password else []
    if extra.get("previous_secret_key"):
        entries.append({"key": extra["previous_secret_key"], "valid_until": extra.get("previous_valid_until")})
    return entries


def signing_key(extra: dict[str, Any], password: str | None, conn_id: str) -> Ed25519PrivateKey:
    pem = extra.get("private_key") or password
    if not pem:
        raise ConfigError(f"connection {conn_id}", "extra.private_key", "no signing key")
    try:
        return sshsig.load_private_key(_openssh_lines(pem))
    except ValueError as exc:
        raise ConfigError(f"connection {conn_id}", "extra.private_key", "not an OpenSSH Ed25519 private key") from exc


_OPENSSH_PEM = re.compile(r"-----BEGIN OPENSSH PRIVATE KEY-----(.*?)-----END OPENSSH PRIVATE KEY-----", re.S)


def _openssh_lines(pem: str) -> str:
    """The key with its lines restored: a one-line text field or secrets-backend value drops the newlines
    (or turns them into spaces), which OpenSSH's format needs."""
    m = _OPENSSH_PEM.search(pem)
    if not m:
        return pem
    body = "".join(m.group(1).split())
    lines = [body[i : i + 70] for i in range(0, len(body), 70)]
    return "\n".join(["-----BEGIN OPENSSH PRIVATE KEY-----", *lines, "-----END OPENSSH PRIVATE KEY-----", ""])


MIN_PSEUDONYM_KEY_BYTES = 32


def pseudonymisation_key(secret: str | None, conn_id: str) -> bytes:
    """An agreement's HMAC key: at least 32 random bytes, written as hex in the connection's password.

    Make one with ``crosswalk keygen --pseudonymisation``. Hex keeps the key printable and exact (no
    encoding or trailing-newline ambiguity); a short or non-hex key is a configuration error.
    """
    where = f"connection {conn_id}"
    if not secret:
        raise ConfigError(where, "password", "empty: put the agreement's pseudonymisation key (hex) here")
    try:
        key = bytes.fromhex(secret.strip())
    except ValueError as exc:
        raise ConfigError(where, "password", "not hex: make a key with `crosswalk keygen --pseudonymisation`") from exc
    if len(key) < MIN_PSEUDONYM_KEY_BYTES:
        raise ConfigError(
            where, "password", f"{len(key)} bytes; a pseudonymisation key needs at least {MIN_PSEUDONYM_KEY_BYTES}"
        )
    return key
