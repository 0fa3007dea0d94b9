"""Embedded SFTP servers for the demo: one asyncssh server per organisation, on loopback.

Each server has its own host key, accepts only the listed client key (no passwords), and
chroots every session into the organisation's folder holding ``inbox``, ``outbox`` and
``quarantine``. Production partners run OpenSSH; the test suite uses a real OpenSSH sshd.

Run as ``python -m crosswalk.demo.sftpserver SPEC.json``; it writes ``ready`` with the chosen
ports beside the spec and serves until terminated.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from crosswalk import atomic


@dataclass(frozen=True)
class ServerSpec:
    code: str
    root: Path
    host_key: Path
    authorized_keys: Path


async def _start(spec: ServerSpec) -> tuple[str, int]:
    root = str(spec.root).encode()
    server = await asyncssh.create_server(
        asyncssh.SSHServer,
        "127.0.0.1",
        0,
        server_host_keys=[str(spec.host_key)],
        authorized_client_keys=str(spec.authorized_keys),
        password_auth=False,
        kbdint_auth=False,
        sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=root),
        allow_scp=False,
    )
    port = server.sockets[0].getsockname()[1]
    return spec.code, port


async def serve(spec_file: Path) -> None:
    specs = [
        ServerSpec(s["code"], Path(s["root"]), Path(s["host_key"]), Path(s["authorized_keys"]))
        for s in json.loads(spec_file.read_text())
    ]
    ports = dict([await _start(s) for s in specs])
    ready = spec_file.with_name("ready")
    atomic.write_text(ready, json.dumps(ports))  # whoever waits for "ready" never reads it half-written
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1])))
