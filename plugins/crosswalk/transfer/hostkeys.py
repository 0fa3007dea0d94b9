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
    _check_key_blob(embedded, blob)
    return key_type, blob


# What follows the key type in each kind of key blob (RFC 4253 6.6, RFC 5656 3.1, RFC 8709 4): the number of
# length-prefixed fields, and the lengths the fixed-size ones must have.
_ECDSA_POINT = {"nistp256": 65, "nistp384": 97, "nistp521": 133}  # 0x04, then x and y


def _check_key_blob(key_type: str, blob: bytes) -> None:
    """The whole key, field by field: a line cut short (still valid base64, and still naming its type) or with
    bytes added fails here, at config time, rather than at the first connection."""
    fields, pos = [], 0
    while pos < len(blob):
        if pos + 4 > len(blob):
            raise ValueError(_DAMAGED)
        n = int.from_bytes(blob[pos : pos + 4], "big")
        if pos + 4 + n > len(blob):
            raise ValueError(_DAMAGED)
        fields.append(blob[pos + 4 : pos + 4 + n])
        pos += 4 + n
    body = fields[1:]
    if key_type == "ssh-ed25519":
        ok = len(body) == 1 and len(body[0]) == 32
    elif key_type == "ssh-rsa":
        ok = len(body) == 2 and int.from_bytes(body[1], "big").bit_length() >= 2048
        if len(body) == 2 and not ok:
            raise ValueError("an RSA key shorter than 2048 bits is refused: make a new one (ssh-keygen -t ed25519)")
    elif key_type.startswith("ecdsa-sha2-"):
        curve = key_type.removeprefix("ecdsa-sha2-")
        ok = len(body) == 2 and body[0] == curve.encode() and len(body[1]) == _ECDSA_POINT.get(curve, -1)
    else:
        ok = False
    if not ok:
        raise ValueError(_DAMAGED)


_DAMAGED = "key data is cut short or damaged: paste the whole line, as ssh-keyscan or the .pub file gives it"


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
