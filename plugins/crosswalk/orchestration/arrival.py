"""Event-driven scheduling: an Airflow event trigger that watches a partner's SFTP outbox.

An inbound feed on ``schedule: on_arrival`` is scheduled on an Asset whose ``AssetWatcher`` runs
:class:`SftpDropTrigger` in the triggerer. The trigger polls the outbox over SFTP (host keys pinned,
as everywhere) and fires once for each *complete* drop: data file, manifest and manifest signature
all present, classified exactly as the inbound flow does (:func:`crosswalk.drops.classify`).
A partial drop, or an upload still under a ``.part`` name, does not fire.

It never fires twice for one drop. What it has fired (each manifest's name, size and mtime, and its
signature's) is kept in the asset's state store, so a restarted triggerer remembers; entries for
files that have left the outbox are dropped, so the state stays as small as the outbox. A drop whose
manifest or signature is replaced (new size or mtime) is a new drop and fires again. The event is
handed to the triggerer before the state is saved: a crash in between can fire a drop twice, never
lose one, and the inbound flow's batch ledger makes such a second run load nothing.
"""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from crosswalk.drops import classify
from crosswalk.logsafety import shown_name
from crosswalk.transfer.hostkeys import SSH_PORT, known_hosts_text

if TYPE_CHECKING:
    import asyncssh

STATE_KEY = "fired"


def known_hosts(host: str, port: int, host_keys: list[str]) -> asyncssh.SSHKnownHosts:
    """Only the partner's pinned keys, for this host and port: nothing from ~/.ssh/known_hosts."""
    import asyncssh

    return asyncssh.import_known_hosts(known_hosts_text(host, port, host_keys))


def fingerprints(listing: dict[str, tuple[int, int]], manifests_and_signatures: list[tuple[str, str]]) -> dict:
    """Each complete drop's identity: manifest name -> [size, mtime] of the manifest and signature."""
    return {m: [*listing[m], *listing[s]] for m, s in manifests_and_signatures}


class SftpDropTrigger(BaseEventTrigger):
    """Fire once per complete drop of one inbound feed in a partner's SFTP outbox."""

    def __init__(
        self,
        feed_id: str,
        conn_id: str,
        host_keys: list[str],
        directory: str,
        file_pattern: str,
        partner_patterns: list[str],
        poll_interval: float = 30.0,
    ) -> None:
        super().__init__()
        self.feed_id = feed_id
        self.conn_id = conn_id
        self.host_keys = list(host_keys)
        self.directory = directory
        self.file_pattern = file_pattern
        self.partner_patterns = list(partner_patterns)
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "feed_id": self.feed_id,
                "conn_id": self.conn_id,
                "host_keys": self.host_keys,
                "directory": self.directory,
                "file_pattern": self.file_pattern,
                "partner_patterns": self.partner_patterns,
                "poll_interval": self.poll_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import asyncssh  # here, not at module level: DAG parsing builds the trigger but never runs it

        fired: dict = await self._load_state()
        while True:
            try:
                listing = await self._list_outbox()
            except (OSError, asyncssh.Error) as exc:
                # The partner's server may be down for a while: keep watching, say so without detail.
                self.log.warning("%s: cannot list the outbox (%s); retrying", self.feed_id, type(exc).__name__)
                await asyncio.sleep(self.poll_interval)
                continue
            found = classify(listing, self.feed_id, self.file_pattern, self.partner_patterns)
            # Kept and shown by Airflow (the asset's state, its events, the triggerer's log): a drop by the hash
            # of its manifest's name and by its name as shown, never the partner's own name.
            by_name = fingerprints(listing, [(d.manifest_file, d.signature_file) for d in found.drops])
            shown = {_ref(m): shown_name(m) for m in by_name}
            present = {_ref(m): fp for m, fp in by_name.items()}
            new = sorted(r for r, fp in present.items() if fired.get(r) != fp)
            if new or present.keys() != fired.keys():
                for ref in new:
                    self.log.info("%s: complete drop %s", self.feed_id, shown[ref])
                    yield TriggerEvent(
                        {"feed_id": self.feed_id, "drop": shown[ref], "ref": ref, "fingerprint": present[ref]}
                    )
                fired = present
                await self._save_state(fired)
            await asyncio.sleep(self.poll_interval)

    async def _list_outbox(self) -> dict[str, tuple[int, int]]:
        """Regular files in the outbox: name -> (size, mtime)."""
        async with await self._connect() as conn, conn.start_sftp_client() as sftp:
            entries = await sftp.readdir(self.directory)
        out = {}
        for e in entries:
            a = e.attrs
            if a.permissions is not None and stat.S_ISREG(a.permissions):
                out[str(e.filename)] = (int(a.size or 0), int(a.mtime or 0))
        return out

    async def _connect(self) -> asyncssh.SSHClientConnection:
        import asyncssh
        from airflow.providers.common.compat.connection import get_async_connection

        conn = await get_async_connection(self.conn_id)
        extra = conn.extra_dejson
        key_text = extra.get("private_key")
        if key_text:
            keys = [asyncssh.import_private_key(key_text, extra.get("private_key_passphrase"))]
        elif extra.get("key_file"):
            keys = [asyncssh.read_private_key(extra["key_file"], extra.get("private_key_passphrase"))]
        else:
            raise asyncssh.PermissionDenied(f"connection {self.conn_id}: key-only logins, set private_key or key_file")
        port = int(conn.port or SSH_PORT)
        return await asyncssh.connect(
            conn.host,
            port=port,
            username=conn.login,
            client_keys=keys,
            known_hosts=known_hosts(conn.host, port, self.host_keys),
            password=None,
            agent_path=None,
            config=[],
            connect_timeout=30,
        )

    async def _load_state(self) -> dict:
        if self.asset_state_store is None:  # run outside a triggerer (tests): memory only
            return {}
        value = await self.asset_state_store.aget(STATE_KEY, default={})
        return dict(value) if isinstance(value, dict) else {}

    async def _save_state(self, fired: dict) -> None:
        if self.asset_state_store is not None:
            if fired:
                await self.asset_state_store.aset(STATE_KEY, fired)
            else:
                await self.asset_state_store.adelete(STATE_KEY)


def _ref(manifest_name: str) -> str:
    import hashlib

    return hashlib.sha256(manifest_name.encode("utf-8", "surrogateescape")).hexdigest()[:32]
