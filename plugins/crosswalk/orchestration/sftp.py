"""Open a partner's SFTP area with its pinned host keys."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from crosswalk.config.models import Partner

if TYPE_CHECKING:  # the flows import this module while the DAG files are parsed: paramiko stays out
    import paramiko


@contextlib.contextmanager
def partner_sftp(partner: Partner) -> Iterator[paramiko.SFTPClient]:
    from crosswalk.transfer.hooks import PinnedSFTPHook

    hook = PinnedSFTPHook(ssh_conn_id=partner.sftp.conn_id, host_keys=partner.sftp.host_keys)
    with hook.get_managed_conn() as sftp:
        yield sftp


def partner_bulk(partner: Partner):
    """The bulk transport for this partner, from the same Airflow connection as the hook.

    The connection is parsed by :class:`PinnedSFTPHook` (no network until used), so host, port,
    login and the refusal of host-key-checking opt-outs are exactly the hook's.
    """
    from pathlib import Path

    from crosswalk.errors import ConfigError
    from crosswalk.orchestration.connection_types import connection
    from crosswalk.transfer import openssh
    from crosswalk.transfer.asyncssh_bulk import AsyncsshBulk
    from crosswalk.transfer.bulk import Endpoint, Tuning
    from crosswalk.transfer.hooks import PinnedSFTPHook
    from crosswalk.transfer.openssh import OpenSshBulk

    conn_id = partner.sftp.conn_id
    hook = PinnedSFTPHook(ssh_conn_id=conn_id, host_keys=partner.sftp.host_keys)
    extra = connection(conn_id).extra_dejson  # the engine needs the key's text, which the hook keeps parsed
    key = extra.get("private_key") or (Path(hook.key_file).read_text() if hook.key_file else None)
    if not key:
        raise ConfigError(f"connection {conn_id}", "extra.private_key", "key-only logins: set private_key or key_file")
    endpoint = Endpoint(
        hook.remote_host,
        int(hook.port or 22),
        hook.username,
        tuple(partner.sftp.host_keys),
        key,
        extra.get("private_key_passphrase"),
    )
    tuning = Tuning(attempts=partner.sftp.transfer_attempts)
    # The OpenSSH client where installed (measured faster here); the pure-Python engine otherwise.
    return OpenSshBulk(endpoint, tuning) if openssh.available() else AsyncsshBulk(endpoint, tuning)


def pools(cfg) -> dict[str, dict]:
    """Every pool the generated DAGs use, in the shape ``airflow pools import`` reads."""
    return {
        partner.sftp_pool: {
            "slots": partner.sftp.max_sessions,
            "description": f"Crosswalk: SFTP sessions to {partner.name} at once",
            "include_deferred": False,
        }
        for _, partner in sorted(cfg.partners.items())
    }
