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


def probe(partner: Partner) -> str:
    """Connect as a run would, with the pinned host keys and the connection's login, and look at the three folders.

    What ``crosswalk check --connect`` reports: the key the server presented beside the pinned ones, both by
    fingerprint. A key that is not pinned is a failure, never a prompt to pin it: a pin is confirmed with the
    partner out of band. Returns one line; raises :class:`ConfigError` naming what to do.
    """
    from crosswalk.crypto.sshsig import fingerprint
    from crosswalk.errors import ConfigError, HostKeyRejected, TransferError
    from crosswalk.transfer.hooks import PinnedSFTPHook, presented_host_key

    where = f"partners/{partner.code}.yaml"
    pinned = "; ".join(f"{line.split()[0]} {fingerprint(line)}" for line in partner.sftp.host_keys)
    hook = PinnedSFTPHook(ssh_conn_id=partner.sftp.conn_id, host_keys=partner.sftp.host_keys)
    server = f"{hook.remote_host}:{hook.port or 22}"
    try:
        with hook.get_managed_conn() as sftp:
            presented = presented_host_key(sftp)
            paths = partner.sftp.paths
            missing = [p for p in (paths.inbox, paths.outbox, paths.quarantine) if not _is_dir(sftp, p)]
    except HostKeyRejected as exc:
        raise ConfigError(
            where,
            "sftp.host_keys",
            f"{server} presented {exc.presented or 'a key we could not read'}, which is not pinned (pinned: {pinned});"
            f" never pin a key because a server shows it: confirm the fingerprint with {partner.name} by phone",
        ) from exc
    except TransferError as exc:
        raise ConfigError(where, "sftp", f"cannot connect to {server}: {exc}") from exc
    if missing:
        raise ConfigError(where, "sftp.paths", f"{server}: no folder {', '.join(missing)} after login")
    return f"{partner.code} {server}: host key {presented} is pinned; logged in; inbox, outbox and quarantine present"


def _is_dir(sftp, path: str) -> bool:
    import stat

    try:
        return stat.S_ISDIR(sftp.stat(path).st_mode or 0)
    except OSError:
        return False


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
