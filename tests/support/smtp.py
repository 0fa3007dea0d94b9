"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message it receives: what a team's mailbox sees."""

from __future__ import annotations

import email
import email.policy
import json

from aiosmtpd.controller import Controller

from tests.support.sshd import free_port


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        box = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                box.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def connection_json(self, from_email: str = "crosswalk@northshire.example") -> str:
        """An Airflow SMTP connection to this server (plain SMTP on loopback, no login)."""
        return json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": self.port,
                           "extra": {"disable_ssl": True, "disable_tls": True, "from_email": from_email}})  # fmt: skip

    def close(self) -> None:
        self.controller.stop()
