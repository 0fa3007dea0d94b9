"""Open a partner's SFTP area with its pinned host keys."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import paramiko

from crosswalk.config.models import Partner


@contextlib.contextmanager
def partner_sftp(partner: Partner) -> Iterator[paramiko.SFTPClient]:
    from crosswalk.transfer.hooks import PinnedSFTPHook

    hook = PinnedSFTPHook(ssh_conn_id=partner.sftp.conn_id, host_keys=partner.sftp.host_keys)
    with hook.get_managed_conn() as sftp:
        yield sftp


def partner_bulk(partner: Partner):
    """The pipelined transfer engine for this partner, from the same Airflow connection as the hook."""
    from pathlib import Path

    from crosswalk.errors import ConfigError, HostKeyRejected
    from crosswalk.orchestration.resources import connection
    from crosswalk.transfer import openssh
    from crosswalk.transfer.engine import Bulk, Endpoint
    from crosswalk.transfer.openssh import OpenSshBulk

    conn_id = partner.sftp.conn_id
    conn = connection(conn_id)
    extra = conn.extra_dejson
    if (
        str(extra.get("no_host_key_check", "")).lower() == "true"
        or str(extra.get("allow_host_key_change", "")).lower() == "true"
    ):
        raise HostKeyRejected(f"{conn_id}: the connection sets no_host_key_check or allow_host_key_change; remove it")
    key = extra.get("private_key") or (Path(extra["key_file"]).read_text() if extra.get("key_file") else None)
    if not key:
        raise ConfigError(f"connection {conn_id}", "extra.private_key", "key-only logins: set private_key or key_file")
    endpoint = Endpoint(
        conn.host,
        int(conn.port or 22),
        conn.login,
        tuple(partner.sftp.host_keys),
        key,
        extra.get("private_key_passphrase"),
    )
    # The OpenSSH client where installed (measured faster here); the pure-Python engine otherwise.
    return OpenSshBulk(endpoint) if openssh.available() else Bulk(endpoint)
