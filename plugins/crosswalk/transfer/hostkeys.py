"""Host-key pinning, in one place: the most security-critical lines of the project.

A partner's SFTP server is trusted only if it presents one of the keys pinned in its config; nothing is
read from ``~/.ssh/known_hosts`` or learnt on first use. This module parses and checks a pinned key line,
and writes the private known_hosts text holding the pinned keys alone, which every SSH client we use is
given: paramiko (:mod:`crosswalk.transfer.hooks`, the demo's partner), asyncssh (the bulk transport and the
arrival trigger) and
the OpenSSH client (:mod:`crosswalk.transfer.openssh`). Standard library only: config validation uses it.
"""

from __future__ import annotations

import base64
import binascii

SSH_PORT = 22

# Host-key types we accept for pinning; DSA is long deprecated and refused.
HOST_KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
    "ssh-rsa",
)


def parse_host_key(line: str) -> tuple[str, bytes]:
    """Split an OpenSSH public-key line into its type and key blob, checking both.

    The blob must decode and name the same key type as the line, so a truncated or
    mismatched paste is caught here rather than at the first failed connection.
    """
    parts = line.split()
    if len(parts) < 2:
        raise ValueError("expected 'TYPE BASE64' as printed by ssh-keyscan or in a .pub file")
    key_type, b64 = parts[0], parts[1]
    if key_type not in HOST_KEY_TYPES:
        raise ValueError(f"key type {key_type!r} is not accepted; use one of {', '.join(HOST_KEY_TYPES)}")
    try:
        blob = base64.b64decode(b64, validate=True)
    except binascii.Error as exc:
        raise ValueError("key data is not valid base64") from exc
    # The blob starts with a length-prefixed copy of the key type (RFC 4253 section 6.6).
    n = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else -1
    embedded = blob[4 : 4 + n].decode("ascii", "replace") if n > 0 else ""
    if embedded != key_type and not (key_type.startswith("rsa-sha2") and embedded == "ssh-rsa"):
        raise ValueError(f"key data is for {embedded or 'nothing'!r}, not {key_type!r}")
    return key_type, blob


def known_hosts_name(host: str, port: int) -> str:
    """How known_hosts names a server: the bare host on port 22, ``[host]:port`` otherwise."""
    return host if port == SSH_PORT else f"[{host}]:{port}"


def known_hosts_text(host: str, port: int, host_keys: list[str] | tuple[str, ...]) -> str:
    """A known_hosts file's text holding only ``host_keys`` (each checked) for this host and port."""
    name = known_hosts_name(host, port)
    lines = []
    for line in host_keys:
        key_type, _ = parse_host_key(line)
        lines.append(f"{name} {key_type} {line.split()[1]}\n")
    return "".join(lines)


def paramiko_host_keys(host: str, port: int, host_keys: list[str] | tuple[str, ...]):
    """The pinned keys as paramiko's ``HostKeys`` for this host and port (nothing else in it)."""
    import paramiko  # only paramiko's callers pay for it: config validation uses this module too

    keys = paramiko.HostKeys()
    name = known_hosts_name(host, port)
    for line in host_keys:
        _, blob = parse_host_key(line)
        embedded = blob[4 : 4 + int.from_bytes(blob[:4], "big")].decode()
        key = paramiko.PKey.from_type_string(embedded, blob)
        keys.add(name, key.get_name(), key)
    return keys
