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
