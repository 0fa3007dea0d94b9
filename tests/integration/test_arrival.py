"""The on_arrival event trigger against real sshd: it fires once per complete drop, not for a partial
drop, not twice for one drop, and not again after a restart (its state kept as the asset's state store
keeps it). The same trigger running in a real triggerer is covered by tests/integration/test_stack.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from crosswalk.manifest import manifest_name, signature_name
from crosswalk.orchestration.arrival import SftpDropTrigger, _ref
from crosswalk.orchestration.common import arrival_asset
from tests.support.project import clients_csv

pytestmark = [pytest.mark.sshd]
COUNCIL = "northshire-council"


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'crosswalk.db'}"


class StateStore:
    """The asset state store's async interface (aget/aset/adelete), kept in a dict across triggers."""

    def __init__(self) -> None:
        self.values: dict = {}

    async def aget(self, key, default=None):
        return self.values.get(key, default)

    async def aset(self, key, value):
        self.values[key] = value

    async def adelete(self, key):
        self.values.pop(key, None)


def _trigger(project, store: StateStore) -> SftpDropTrigger:
    """The trigger the DAG factory puts on council-clients' outbox asset, polling faster."""
    (watcher,) = arrival_asset(project.cfg.inbound("council-clients"), project.cfg).watchers
    t = watcher.trigger
    t.poll_interval = 0.2
    t.asset_state_store = store
    return t


class Watch:
    """Drive a trigger's event stream as the triggerer does (one task iterating it), collecting events."""

    def __init__(self, trigger: SftpDropTrigger) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()

        async def pump() -> None:
            async for event in trigger.run():
                await self.queue.put(event.payload)

        self.task = asyncio.get_running_loop().create_task(pump())

    async def events_for(self, seconds: float) -> list[dict]:
        got, loop = [], asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            try:
                got.append(await asyncio.wait_for(self.queue.get(), timeout=left))
            except TimeoutError:
                break
        assert not self.task.done(), self.task  # a watcher runs until cancelled
        return got

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def _drop(project, name: str, *, complete: bool) -> Path:
    enc = project.drop(
        COUNCIL,
        clients_csv(project.work, n=20, name=name),
        feed="council-clients",
        schema_id="social_care_client",
        omit=() if complete else (signature_name(manifest_name(name + ".age")),),
    )
    return Path(signature_name(str(enc.with_name(manifest_name(enc.name)))))


def test_fires_once_per_complete_drop_never_for_a_partial_one_nor_twice(project):
    store = StateStore()

    async def scenario():
        watch = Watch(_trigger(project, store))
        assert await watch.events_for(1.0) == []  # empty outbox
        sig = _drop(project, "clients_20261121.csv", complete=False)  # data and manifest, no signature yet
        assert await watch.events_for(1.5) == []
        project.sshd.sftp_cli(COUNCIL, f"put {sig} /outbox/{sig.name}\n")
        first = await watch.events_for(2.0)
        assert [e["drop"] for e in first] == ["clients_20261121.csv.age.manifest.json"]  # as shown
        assert await watch.events_for(1.5) == []  # still there, already fired
        await watch.close()

        # A restarted triggerer builds a new trigger; the state store remembers what fired.
        watch = Watch(_trigger(project, store))
        assert await watch.events_for(1.5) == []
        _drop(project, "clients_20261122.csv", complete=True)
        second = await watch.events_for(2.0)
        assert [e["drop"] for e in second] == ["clients_20261122.csv.age.manifest.json"]
        assert all(e["feed_id"] == "council-clients" for e in first + second)
        await watch.close()

    asyncio.run(scenario())
    # What Airflow keeps of the drops (the asset's state): each by the hash of its manifest's name.
    assert sorted(store.values["fired"]) == sorted(
        _ref(m) for m in ("clients_20261121.csv.age.manifest.json", "clients_20261122.csv.age.manifest.json")
    )


def test_a_server_whose_host_key_is_not_pinned_is_never_listed(project, capfd):
    store = StateStore()
    trigger = _trigger(project, store)
    # Pin a different key: the real server's key must then be refused, and no drop ever fires.
    trigger.host_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHZuREhMnpplw34wcAVY8VfzCEuS1gQ+tLedC66cB2Xa"]
    _drop(project, "clients_20261121.csv", complete=True)

    async def scenario():
        watch = Watch(trigger)
        events = await watch.events_for(1.5)
        await watch.close()
        return events

    assert asyncio.run(scenario()) == []
    out, err = capfd.readouterr()  # triggers log through structlog, as in the triggerer
    assert "council-clients: cannot list the outbox (HostKeyNotVerifiable); retrying" in out + err
