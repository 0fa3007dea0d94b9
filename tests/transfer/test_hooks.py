"""Host keys are pinned from partner config: connections that try to switch checking off are refused."""

from __future__ import annotations

import json

import pytest

from crosswalk.errors import HostKeyRejected
from crosswalk.transfer.hooks import PinnedSFTPHook
from crosswalk.transfer.hostkeys import paramiko_host_keys
from tests.support.project import EnvPatch

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICfVmTOl1apIbf4eB7l235NaxCJ0pGYRuWaydQzeXWyo"


@pytest.mark.parametrize("extra", [{"no_host_key_check": "true"}, {"allow_host_key_change": "true"}])
def test_connection_that_disables_host_key_checking_is_refused(extra):
    conn = {"conn_type": "sftp", "host": "127.0.0.1", "login": "x", "extra": extra}
    with EnvPatch({"AIRFLOW_CONN_SFTP_LAX": json.dumps(conn)}), pytest.raises(HostKeyRejected, match="remove it"):
        PinnedSFTPHook(ssh_conn_id="sftp_lax", host_keys=[KEY])


def test_no_pinned_keys_is_refused():
    with pytest.raises(HostKeyRejected, match="no pinned host keys"):
        PinnedSFTPHook(ssh_conn_id="any", host_keys=[])


def test_pins_are_stored_under_the_host_and_port_paramiko_looks_up():
    assert list(paramiko_host_keys("127.0.0.1", 2222, [KEY])) == ["[127.0.0.1]:2222"]
    assert list(paramiko_host_keys("sftp.example", 22, [KEY])) == ["sftp.example"]
