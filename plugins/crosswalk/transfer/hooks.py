"""The SFTP provider's hook, with host keys pinned from partner config and nothing else.

``SSHHook.get_conn`` also loads ``~/.ssh/known_hosts``, and paramiko consults those system keys
before the connection's ``host_key`` extra, so a stale or planted known_hosts entry could
override the pin. :class:`_PinnedSSHHook` replaces ``get_conn`` to trust only the keys the
partner's config lists, with paramiko's ``RejectPolicy`` for anything else. It sits between
``SFTPHook`` and ``SSHHook`` in the MRO, so every SFTPHook method (listing, managed
connections) goes through it.
"""

from __future__ import annotations

import paramiko
from airflow.providers.sftp.hooks.sftp import SFTPHook
from airflow.providers.ssh.hooks.ssh import SSHHook

from crosswalk.errors import HostKeyRejected, TransferError
from crosswalk.transfer.hostkeys import SSH_PORT, paramiko_host_keys


class _PinnedSSHHook(SSHHook):
    pinned_host_keys: list[str]

    def get_conn(self) -> paramiko.SSHClient:
        if self.client:
            transport = self.client.get_transport()
            if transport and transport.is_active():
                return self.client
        client = paramiko.SSHClient()
        port = int(self.port or SSH_PORT)
        for name, entry in paramiko_host_keys(self.remote_host, port, self.pinned_host_keys).items():
            for key_type, key in entry.items():
                client.get_host_keys().add(name, key_type, key)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(
                hostname=self.remote_host,
                port=port,
                username=self.username,
                password=self.password.strip() if self.password else None,
                pkey=self.pkey,
                key_filename=self.key_file,
                timeout=self.conn_timeout,
                banner_timeout=self.banner_timeout,
                auth_timeout=self.auth_timeout,
                disabled_algorithms=self.disabled_algorithms,
                look_for_keys=False,  # only the credentials in the Airflow connection
                allow_agent=False,
            )
        except paramiko.BadHostKeyException as exc:
            presented = _described(exc.key)
            raise HostKeyRejected(
                f"{self.ssh_conn_id}: {self.remote_host}:{port} presented a host key that is not pinned"
                f" ({presented}); refusing to connect",
                presented,
            ) from exc
        except paramiko.SSHException as exc:
            if "not found in known_hosts" in str(exc):
                transport = client.get_transport()
                presented = _described(transport.get_remote_server_key()) if transport else None
                raise HostKeyRejected(
                    f"{self.ssh_conn_id}: {self.remote_host}:{port} presented no pinned host key"
                    f"{f' ({presented})' if presented else ''}; refusing to connect",
                    presented,
                ) from exc
            raise TransferError(f"{self.ssh_conn_id}: SSH failure: {exc}") from exc
        except (TimeoutError, OSError) as exc:
            raise TransferError(f"{self.ssh_conn_id}: cannot reach {self.remote_host}:{port}: {exc}") from exc
        if self.keepalive_interval:
            client.get_transport().set_keepalive(self.keepalive_interval)  # type: ignore[union-attr]
        self.client = client
        return client


def _described(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.fingerprint}"


def presented_host_key(sftp: paramiko.SFTPClient) -> str:
    """The host key the server showed on this session's connection, as ``<type> SHA256:<fingerprint>``."""
    return _described(sftp.get_channel().get_transport().get_remote_server_key())  # type: ignore[union-attr]


class PinnedSFTPHook(SFTPHook, _PinnedSSHHook):
    """An :class:`SFTPHook` that only ever trusts ``host_keys``.

    Refuses connections whose extras switch host-key checking off, rather than ignoring them
    quietly, so a misconfigured connection is found and fixed.
    """

    def __init__(self, ssh_conn_id: str, host_keys: list[str], **kwargs) -> None:
        if not host_keys:
            raise HostKeyRejected(f"{ssh_conn_id}: no pinned host keys; refusing to connect")
        self.pinned_host_keys = list(host_keys)
        super().__init__(ssh_conn_id=ssh_conn_id, **kwargs)
        if self.no_host_key_check or self.allow_host_key_change:
            raise HostKeyRejected(
                f"{ssh_conn_id}: the connection sets no_host_key_check or allow_host_key_change; remove it"
                " (host keys are pinned in partner config)"
            )
